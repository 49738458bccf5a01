"""`branchml serve TAG`: a tag's model behind MLflow's scoring protocol, with canaries and shadows."""
