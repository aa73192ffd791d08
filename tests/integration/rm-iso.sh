#!/bin/bash
# Resource manager isolation, one kind per test: client B cannot use,
# flush, read, context-save or see client A's objects and sessions
# (rmclient iso KIND: use | flush | read | save | see | session).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
start_daemon
"$BUILD/tests/integration/rmclient" "$TPM2TOOLS_TCTI" iso "${1:?kind}" || fail "isolation: $1"
stop_daemon
