from gansweep.cli import main

main()
