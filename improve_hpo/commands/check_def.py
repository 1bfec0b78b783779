"""`improve-hpo check-def`: placeholder until its issue lands."""


def register(subparsers):
    subparsers.add_parser("check-def", help="(not yet implemented)")


def run(args) -> int:
    print("improve-hpo check-def: not implemented yet")
    return 2
