"""`improve-hpo report`: placeholder until its issue lands."""


def register(subparsers):
    subparsers.add_parser("report", help="(not yet implemented)")


def run(args) -> int:
    print("improve-hpo report: not implemented yet")
    return 2
