#!/usr/bin/env bash
# What a GitHub-hosted ubuntu-24.04 runner lacks for `.ci/run`. The runner's
# user is not root, so .ci/run cannot apt-get by itself; everything else it
# needs (Rust, Node.js 20, Python venv, the PostgreSQL 16 server binaries) is
# on the image, and .ci/run installs cargo-nextest and the Python tools.
set -euo pipefail
sudo apt-get update -qq
# docker-registry: the local OCI registry the image tests push to.
# ShellCheck: actionlint checks the workflows' run: scripts with it.
sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry shellcheck
