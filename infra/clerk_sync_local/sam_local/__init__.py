"""`make sam-local`: the template's functions, as `sam build` bundles them, served by SAM's own emulator
(`sam local start-api`, `sam local start-lambda`) in Lambda-like containers, on the engines of
`clerk-sync dev`.

- docker_engine: a working Docker, else (Debian, root) docker.io installed and a dockerd started;
- image: the Lambda-like Python 3.13 image, built offline from Debian packages (cached by its inputs);
- bridge: the Docker network the containers join, and the relays that let them reach the engines;
- sam: `sam build`, the local template and env file, the two `sam local` processes, the worker's invoker;
- stack: the whole, wired like `clerk-sync dev` and published in the same state file.
"""
