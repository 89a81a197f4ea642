"""The "my organizations" handler on this machine, against a running `clerk-sync dev`.

    make dev                                          # the repository's stack, in another terminal
    eval "$(clerk-sync env)"                          # its region, endpoints, dummy credentials, tables
    python examples/my_organizations/run_locally.py user_…

Prints the body the handler answers for that user, as the HTTP API would once its JWT authorizer
accepted one of their Clerk session tokens. Not part of the Lambda package (the Makefile copies only
my_organizations.py). Without the exports, or with a stack that has stopped: one line saying so.
"""

from __future__ import annotations

import sys

from botocore.exceptions import EndpointConnectionError
from clerk_sync.read import AwsConfigError

PROG = "run_locally.py"


def main(argv: list[str]) -> int:
    """Call the handler for the user id given; the exit code is 0 for its 200 answer."""
    if len(argv) != 1:
        print(f"usage: python {PROG} USER_ID", file=sys.stderr)
        return 2
    try:
        import my_organizations  # makes its ClerkData from the environment, as in Lambda

        claims = {"sub": argv[0]}
        response = my_organizations.handler(
            {"requestContext": {"authorizer": {"jwt": {"claims": claims}}}}, None
        )
    except AwsConfigError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    except EndpointConnectionError as error:
        print(
            f"{PROG}: cannot reach {error.kwargs.get('endpoint_url')}: is `clerk-sync dev` running? (its "
            'ports change with each start: eval "$(clerk-sync env)" again)',
            file=sys.stderr,
        )
        return 1
    print(response["body"])
    return 0 if response["statusCode"] == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
