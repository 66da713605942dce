#!/usr/bin/env bash
# Runs a command with AWS credentials for the deploy role, without any
# third-party action and without long-lived keys:
#
#   .github/scripts/aws-oidc-env.sh cargo xtask deploy --all
#
# It asks GitHub for this job's OIDC token (audience sts.amazonaws.com),
# writes it to a private file under $RUNNER_TEMP and runs the command with
# AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE + AWS_REGION set. The AWS SDK's
# default credential chain then calls AssumeRoleWithWebIdentity itself.
#
# A fresh token is fetched for every command because GitHub's tokens are
# short-lived: a token fetched before a long build could expire before the
# SDK uses it. The SDK keeps the role's session (up to 1 h) for the whole
# command once it has assumed the role.
#
# Needs: `permissions: id-token: write` on the job, and the environment
# variables AWS_DEPLOY_ROLE_ARN (stack output <prefix>-ci-DeployRoleArn) and
# AWS_REGION.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
: "${ACTIONS_ID_TOKEN_REQUEST_URL:?no OIDC token endpoint: give the job 'permissions: id-token: write'}"
: "${ACTIONS_ID_TOKEN_REQUEST_TOKEN:?no OIDC request token: give the job 'permissions: id-token: write'}"
: "${AWS_DEPLOY_ROLE_ARN:?set the GitHub variable AWS_DEPLOY_ROLE_ARN to the stack output <prefix>-ci-DeployRoleArn}"
: "${AWS_REGION:?set AWS_REGION (the region of lib/config.ts)}"
: "${RUNNER_TEMP:?RUNNER_TEMP is not set: run this inside a GitHub Actions job}"

token_file="$RUNNER_TEMP/aws-web-identity-token"
trap 'rm -f "$token_file"' EXIT
umask 077
response="$(curl --fail --silent --show-error --retry 3 \
  --header "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
  "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=sts.amazonaws.com")"
token="$(jq --raw-output '.value // empty' <<<"$response")"
if [ -z "$token" ]; then
  echo "GitHub's OIDC endpoint returned no token" >&2
  exit 1
fi
printf '%s' "$token" >"$token_file"
unset response token

export AWS_ROLE_ARN="$AWS_DEPLOY_ROLE_ARN"
export AWS_WEB_IDENTITY_TOKEN_FILE="$token_file"
export AWS_ROLE_SESSION_NAME="github-${GITHUB_RUN_ID:-local}-${GITHUB_RUN_ATTEMPT:-1}"
export AWS_REGION
# Only the web identity may be used: no stray keys or profiles from the runner.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE

# Not exec: the EXIT trap removes the token file when the command ends.
"$@"
