"""`improve-hpo validate`: placeholder until its issue lands."""


def register(subparsers):
    subparsers.add_parser("validate", help="(not yet implemented)")


def run(args) -> int:
    print("improve-hpo validate: not implemented yet")
    return 2
