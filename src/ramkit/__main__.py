from ramkit.cli import main

main()
