from safealign.cli import main

main()
