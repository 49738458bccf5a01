from branchml.cli.entry import main

main()
