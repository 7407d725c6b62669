"""One module per `kbuild` subcommand: add_arguments(parser) and run(args)."""
