"""`branchml demo`: build a small example repository and narrate what each step shows."""
