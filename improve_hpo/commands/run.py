"""`improve-hpo run`: placeholder until its issue lands."""


def register(subparsers):
    subparsers.add_parser("run", help="(not yet implemented)")


def run(args) -> int:
    print("improve-hpo run: not implemented yet")
    return 2
