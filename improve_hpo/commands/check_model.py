"""`improve-hpo check-model`: placeholder until its issue lands."""


def register(subparsers):
    subparsers.add_parser("check-model", help="(not yet implemented)")


def run(args) -> int:
    print("improve-hpo check-model: not implemented yet")
    return 2
