#!/usr/bin/env bash
#
# selftest.sh BINARY: drives vault_double through every behaviour its README
# promises, with curl, and exits non-zero if any answer is not what Vault's
# API documents. Bodies are checked with jq when it is installed, else by
# looking for a fragment of the compact JSON. Every double it starts is
# stopped by PID; a sanitizer or valgrind report in a double's log is a
# failure. Exits 77 (skipped) without curl.
#
# VAULT_DOUBLE_WRAPPER, if set, is put in front of the binary, e.g.
#   VAULT_DOUBLE_WRAPPER="valgrind --error-exitcode=99 --leak-check=full"
#
set -u

BIN=${1:?usage: selftest.sh path/to/vault_double}
if ! command -v curl >/dev/null 2>&1; then
	echo "selftest: SKIP: curl not found"
	exit 77
fi
HAVE_JQ=0
command -v jq >/dev/null 2>&1 && HAVE_JQ=1
read -r -a WRAP <<<"${VAULT_DOUBLE_WRAPPER:-}"

T=$(mktemp -d "${TMPDIR:-/tmp}/vault-double.XXXXXX")
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

CHECKS=0
FAILS=0
fail() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}

# start NAME ARGS...: a double on a free port; sets PID, BASE and CTL.
start() {
	local name=$1 i
	shift
	"${WRAP[@]}" "$BIN" --port 0 --port-file "$T/$name.port" "$@" \
	    2>"$T/$name.log" &
	PID=$!
	PIDS+=("$PID")
	for i in $(seq 400); do
		[ -s "$T/$name.port" ] && break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -s "$T/$name.port" ]; then
		echo "selftest: double $name did not start:"
		cat "$T/$name.log"
		exit 1
	fi
	PORT=$(cat "$T/$name.port")
	BASE=http://127.0.0.1:$PORT/v1
	CTL=http://127.0.0.1:$PORT/__double
}

# stop PID NAME: SIGTERM, a clean exit, and a clean log.
stop() {
	local pid=$1 name=$2 rc keep=() p
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	CHECKS=$((CHECKS + 1))
	[ "$rc" = 0 ] || fail "$name: exit status $rc after SIGTERM"
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|==[0-9]+== +(Invalid|Conditional|Use of|Mismatched|Syscall param|[0-9,]+ bytes in [0-9,]+ blocks are definitely)' \
	    "$T/$name.log"; then
		fail "$name: sanitizer or valgrind report:"
		sed 's/^/    /' "$T/$name.log" | head -60
	fi
	for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# req METHOD PATH [CURL ARGS...]: PATH is under $BASE (or a full URL);
# sets STATUS and BODY.
req() {
	local method=$1 url=$2
	shift 2
	case $url in http*) ;; *) url=$BASE$url ;; esac
	STATUS=$(curl -sS -o "$T/body" -w '%{http_code}' -X "$method" "$@" \
	    "$url" 2>"$T/curl.err") || STATUS=000
	BODY=$(cat "$T/body" 2>/dev/null)
}

# expect STATUS WHAT [JQ_FILTER GREP_FRAGMENT]
expect() {
	CHECKS=$((CHECKS + 1))
	if [ "$STATUS" != "$1" ]; then
		fail "$2: status $STATUS, want $1; body: $BODY"
		return
	fi
	[ $# -ge 4 ] || return 0
	if [ $HAVE_JQ = 1 ]; then
		printf '%s' "$BODY" | jq -e "$3" >/dev/null 2>&1 ||
		    fail "$2: body fails $3: $BODY"
	else
		case $BODY in
		*"$4"*) ;;
		*) fail "$2: body lacks $4: $BODY" ;;
		esac
	fi
}

# field FILTER: one string from the last body, with or without jq.
field() {
	if [ $HAVE_JQ = 1 ]; then
		printf '%s' "$BODY" | jq -r "$1"
	else
		printf '%s' "$BODY" | grep -o "\"$2\":\"[^\"]*\"" | head -1 |
		    cut -d'"' -f4
	fi
}

ROOT=root-token-$$
R=(-H "X-Vault-Token: $ROOT")

# --- bad command lines -----------------------------------------------------
CHECKS=$((CHECKS + 1))
"$BIN" --port 0 2>/dev/null && fail "no --token accepted"
"$BIN" --port 0 --token t --kv1 sys 2>/dev/null && fail "--kv1 sys accepted"
"$BIN" --port 0 --token t --kv1 a --kv2 a/b 2>/dev/null &&
    fail "overlapping mounts accepted"
"$BIN" --port x --token t 2>/dev/null && fail "--port x accepted"
"$BIN" --port 0 --token t --tls-cert /nonexistent 2>/dev/null &&
    fail "--tls-cert without --tls-key accepted"

start a --token "$ROOT" --token second-token --kv1 secret --kv2 kv \
    --kv2 team/kv2 --approle role-1:secret-1
A=$PID

# --- health and seal status ------------------------------------------------
req GET /sys/health
expect 200 "health" '.sealed == false and .initialized == true and .standby == false' '"sealed":false'
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -I "$BASE/sys/health")
expect 200 "HEAD health"
req GET "/sys/health?activecode=299"
expect 299 "health activecode"
req POST /sys/health
expect 405 "POST health"
req GET /sys/seal-status
expect 200 "seal-status" '.sealed == false and .type == "shamir" and .initialized == true' '"sealed":false'

# --- authentication --------------------------------------------------------
req GET /secret/app/one
expect 403 "no token" '.errors == ["permission denied"]' '{"errors":["permission denied"]}'
req GET /secret/app/one -H "X-Vault-Token: wrong"
expect 403 "unknown token" '.errors == ["permission denied"]' 'permission denied'
req GET /secret/app/one -H "Authorization: Bearer $ROOT"
expect 404 "bearer token" '.errors == []' '{"errors":[]}'
req GET /secret/app/one -H "X-Vault-Token: second-token"
expect 404 "second root token" '.errors == []' '{"errors":[]}'
req GET /auth/token/lookup-self "${R[@]}"
expect 200 "lookup-self root" '.data.policies == ["root"] and .data.ttl == 0 and .data.expire_time == null' '"policies":["root"]'

# --- KV version 1 ----------------------------------------------------------
req POST /secret/app/one "${R[@]}" --data-binary '{"user":"u","pass":"p"}'
expect 204 "v1 POST"
[ -z "$BODY" ] || fail "v1 POST: 204 with a body: $BODY"
req PUT /secret/app/two "${R[@]}" --data-binary '{"n":1}'
expect 204 "v1 PUT"
req PUT /secret/app/sub/three "${R[@]}" --data-binary '{"n":3,"ttl":"90s"}'
expect 204 "v1 PUT nested"
req GET /secret/app/one "${R[@]}"
expect 200 "v1 read" '.data == {"pass":"p","user":"u"} and .lease_duration == 2764800 and .lease_id == "" and .renewable == false and .wrap_info == null and .warnings == null and .auth == null and (.request_id | length) == 36 and .mount_type == "kv"' '"lease_duration":2764800,"data":{"pass":"p","user":"u"}'
req GET /secret/app/sub/three "${R[@]}"
expect 200 "v1 read with ttl" '.lease_duration == 90' '"lease_duration":90,'
req GET /secret/app/none "${R[@]}"
expect 404 "v1 missing" '.errors == []' '{"errors":[]}'
req LIST /secret/app "${R[@]}"
expect 200 "v1 LIST dir" '.data.keys == ["one","sub/","two"] and .lease_duration == 0' '"keys":["one","sub/","two"]'
req LIST /secret/app/ "${R[@]}"
expect 200 "v1 LIST dir/" '.data.keys == ["one","sub/","two"]' '"keys":["one","sub/","two"]'
req GET "/secret/app?list=true" "${R[@]}"
expect 200 "v1 GET ?list=true" '.data.keys == ["one","sub/","two"]' '"keys":["one","sub/","two"]'
req GET "/secret/?list=1" "${R[@]}"
expect 200 "v1 list mount root" '.data.keys == ["app/"]' '"keys":["app/"]'
req LIST /secret/nothing "${R[@]}"
expect 404 "v1 LIST empty" '.errors == []' '{"errors":[]}'
req GET "/secret/app?list=maybe" "${R[@]}"
expect 400 "v1 list=maybe"
req POST /secret/app/bad "${R[@]}" --data-binary '[1,2]'
expect 400 "v1 array body" '.errors[0] | contains("cannot unmarshal array")' 'cannot unmarshal array'
req POST /secret/app/bad "${R[@]}" --data-binary '{"a":'
expect 400 "v1 malformed body" '.errors[0] | startswith("failed to parse JSON input")' 'failed to parse JSON input'
req POST /secret/app/bad "${R[@]}" --data-binary '"text"'
expect 400 "v1 string body" '.errors[0] | contains("cannot unmarshal string")' 'cannot unmarshal string'
req POST /secret/app/bad "${R[@]}"
expect 400 "v1 empty body" '.errors == ["missing data fields"]' 'missing data fields'
req POST /secret/app/bad "${R[@]}" --data-binary '{}'
expect 400 "v1 empty object" '.errors == ["missing data fields"]' 'missing data fields'
req GET /secret/app/bad "${R[@]}"
expect 404 "v1 nothing stored by bad writes"
req DELETE /secret/app/two "${R[@]}"
expect 204 "v1 DELETE"
req GET /secret/app/two "${R[@]}"
expect 404 "v1 read after DELETE"
req PATCH /secret/app/one "${R[@]}" --data-binary '{"a":1}'
expect 405 "v1 PATCH"
req FOO /secret/app/one "${R[@]}"
expect 405 "unknown method" '.errors == []' '{"errors":[]}'

# --- KV version 2 ----------------------------------------------------------
req POST /kv/data/app/cfg "${R[@]}" --data-binary '{"data":{"k":"v1"}}'
expect 200 "v2 write" '.data.version == 1 and .data.deletion_time == "" and .data.destroyed == false and .data.custom_metadata == null and (.data.created_time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$"))' '"deletion_time":"","destroyed":false,"version":1'
req GET /kv/data/app/cfg "${R[@]}"
expect 200 "v2 read" '.data.data == {"k":"v1"} and .data.metadata.version == 1 and .data.metadata.deletion_time == "" and .lease_duration == 0' '"data":{"data":{"k":"v1"},"metadata":{'
req PUT /kv/data/app/cfg "${R[@]}" --data-binary '{"data":{"k":"v2"},"options":{"cas":1}}'
expect 200 "v2 write cas=1" '.data.version == 2' '"version":2'
req POST /kv/data/app/cfg "${R[@]}" --data-binary '{"data":{"k":"v3"},"options":{"cas":1}}'
expect 400 "v2 cas mismatch" '.errors == ["check-and-set parameter did not match the current version"]' 'check-and-set parameter did not match the current version'
req POST /kv/data/app/cfg "${R[@]}" --data-binary '{"data":{"k":"v3"},"options":{"cas":0}}'
expect 400 "v2 cas=0 on existing key" '.errors == ["check-and-set parameter did not match the current version"]' 'check-and-set parameter did not match'
req POST /kv/data/app/new "${R[@]}" --data-binary '{"data":{"n":1},"options":{"cas":0}}'
expect 200 "v2 cas=0 on new key" '.data.version == 1' '"version":1'
req POST /kv/data/app/cfg "${R[@]}" --data-binary '{"options":{}}'
expect 400 "v2 no data" '.errors == ["no data provided"]' 'no data provided'
req POST /kv/data/app/cfg "${R[@]}" --data-binary '{"data":"x"}'
expect 400 "v2 data not an object"
req POST /kv/data/app/cfg "${R[@]}" --data-binary '{"data":{},"options":{"cas":"x"}}'
expect 400 "v2 bad cas" '.errors == ["error parsing check-and-set parameter"]' 'error parsing check-and-set parameter'
req POST /kv/data/app/cfg "${R[@]}" --data-binary '{"data":'
expect 400 "v2 malformed body" '.errors[0] | startswith("failed to parse JSON input")' 'failed to parse JSON input'
req GET "/kv/data/app/cfg?version=1" "${R[@]}"
expect 200 "v2 read version=1" '.data.data.k == "v1" and .data.metadata.version == 1' '"k":"v1"'
req GET "/kv/data/app/cfg?version=9" "${R[@]}"
expect 404 "v2 read missing version" '.errors == []' '{"errors":[]}'
req GET "/kv/data/app/cfg?version=x" "${R[@]}"
expect 400 "v2 read version=x"
req GET /kv/data/app/missing "${R[@]}"
expect 404 "v2 missing key" '.errors == []' '{"errors":[]}'
req DELETE /kv/data/app/cfg "${R[@]}"
expect 204 "v2 soft delete"
req GET /kv/data/app/cfg "${R[@]}"
expect 404 "v2 read soft-deleted" '.data.data == null and .data.metadata.version == 2 and (.data.metadata.deletion_time | length) > 0 and .data.metadata.destroyed == false' '"data":{"data":null,"metadata":{'
req GET "/kv/data/app/cfg?version=1" "${R[@]}"
expect 200 "v2 older version survives soft delete" '.data.data.k == "v1"' '"k":"v1"'
req POST /kv/undelete/app/cfg "${R[@]}" --data-binary '{"versions":[2]}'
expect 204 "v2 undelete"
req GET /kv/data/app/cfg "${R[@]}"
expect 200 "v2 read undeleted" '.data.data.k == "v2" and .data.metadata.deletion_time == ""' '"k":"v2"'
req POST /kv/delete/app/cfg "${R[@]}" --data-binary '{"versions":"1"}'
expect 204 "v2 delete version 1"
req GET "/kv/data/app/cfg?version=1" "${R[@]}"
expect 404 "v2 read deleted version 1" '.data.data == null and (.data.metadata.deletion_time | length) > 0' '"data":null'
req POST /kv/destroy/app/cfg "${R[@]}" --data-binary '{"versions":[1]}'
expect 204 "v2 destroy version 1"
req POST /kv/undelete/app/cfg "${R[@]}" --data-binary '{"versions":[1]}'
expect 204 "v2 undelete a destroyed version"
req GET "/kv/data/app/cfg?version=1" "${R[@]}"
expect 404 "v2 read destroyed" '.data.data == null and .data.metadata.destroyed == true' '"destroyed":true'
req POST /kv/undelete/app/cfg "${R[@]}" --data-binary '{}'
expect 400 "v2 undelete without versions" '.errors == ["no version number provided"]' 'no version number provided'
req GET /kv/delete/app/cfg "${R[@]}"
expect 405 "v2 GET on delete/"
req GET /kv/metadata/app/cfg "${R[@]}"
expect 200 "v2 metadata" '.data.current_version == 2 and (.data.versions | keys) == ["1","2"] and .data.versions["1"].destroyed == true and .data.versions["2"].deletion_time == "" and .data.max_versions == 0 and .data.delete_version_after == "0s" and .data.cas_required == false' '"current_version":2'
req LIST /kv/metadata/app "${R[@]}"
expect 200 "v2 LIST metadata dir" '.data.keys == ["cfg","new"]' '"keys":["cfg","new"]'
req LIST /kv/metadata "${R[@]}"
expect 200 "v2 LIST metadata root" '.data.keys == ["app/"]' '"keys":["app/"]'
req GET "/kv/metadata/?list=true" "${R[@]}"
expect 200 "v2 GET metadata ?list=true" '.data.keys == ["app/"]' '"keys":["app/"]'
req LIST /kv/metadata/none "${R[@]}"
expect 404 "v2 LIST empty" '.errors == []' '{"errors":[]}'
req LIST /kv/data/app "${R[@]}"
expect 404 "v2 LIST on data/" '.data == null and (.warnings[0] | contains("vault kv list"))' "vault kv list"
req GET /kv/app/cfg "${R[@]}"
expect 404 "v2 path without data/" '.data == null and (.warnings[0] | startswith("Invalid path for a versioned K/V secrets engine"))' 'Invalid path for a versioned K/V secrets engine'
req GET /kv/data "${R[@]}"
expect 404 "v2 read mount's data root" '.warnings[0] | startswith("Non-listing operations on the root")' 'Non-listing operations on the root'
req DELETE /kv/metadata/app/new "${R[@]}"
expect 204 "v2 metadata delete"
req GET /kv/data/app/new "${R[@]}"
expect 404 "v2 read after metadata delete" '.errors == []' '{"errors":[]}'
req GET /kv/metadata/app/new "${R[@]}"
expect 404 "v2 metadata after metadata delete" '.errors == []' '{"errors":[]}'
req POST /kv/metadata/app/meta "${R[@]}" --data-binary '{"custom_metadata":{"owner":"ops"},"max_versions":2}'
expect 204 "v2 metadata write"
for i in 1 2 3; do
	req POST /kv/data/app/meta "${R[@]}" --data-binary "{\"data\":{\"i\":$i}}"
done
expect 200 "v2 third write under max_versions=2" '.data.version == 3 and .data.custom_metadata == {"owner":"ops"}' '"custom_metadata":{"owner":"ops"}'
req GET /kv/metadata/app/meta "${R[@]}"
expect 200 "v2 pruned to max_versions" '.data.oldest_version == 2 and (.data.versions | keys) == ["2","3"] and .data.max_versions == 2' '"max_versions":2,"oldest_version":2'
req POST /kv/config "${R[@]}" --data-binary '{"cas_required":true}'
expect 204 "v2 config write"
req GET /kv/config "${R[@]}"
expect 200 "v2 config read" '.data.cas_required == true and .data.max_versions == 0 and .data.delete_version_after == "0s"' '"cas_required":true'
req POST /kv/data/app/meta "${R[@]}" --data-binary '{"data":{"i":4}}'
expect 400 "v2 cas required" '.errors == ["check-and-set parameter required for this call"]' 'check-and-set parameter required for this call'
req POST /kv/config "${R[@]}" --data-binary '{"cas_required":false,"delete_version_after":"1h30m"}'
expect 204 "v2 config reset"
req GET /kv/config "${R[@]}"
expect 200 "v2 config duration" '.data.delete_version_after == "1h30m0s"' '"delete_version_after":"1h30m0s"'
req POST /team/kv2/data/x "${R[@]}" --data-binary '{"data":{"deep":true}}'
expect 200 "v2 at a nested mount" '.data.version == 1' '"version":1'

# --- mounts ----------------------------------------------------------------
req GET /sys/internal/ui/mounts/secret "${R[@]}"
expect 200 "ui mount kv1" '.data.type == "kv" and .data.options.version == "1" and .data.path == "secret/"' '"options":{"version":"1"},"path":"secret/"'
req GET /sys/internal/ui/mounts/kv/data/app/cfg "${R[@]}"
expect 200 "ui mount kv2 deep path" '.data.options.version == "2" and .data.path == "kv/"' '"options":{"version":"2"},"path":"kv/"'
req GET /sys/internal/ui/mounts/team/kv2/data/x "${R[@]}"
expect 200 "ui mount nested" '.data.path == "team/kv2/"' '"path":"team/kv2/"'
req GET /sys/internal/ui/mounts/nope/x "${R[@]}"
expect 403 "ui mount unknown" '.errors == ["preflight capability check returned 403, please ensure client'"'"'s policies grant access to path \"nope/x/\""]' 'preflight capability check returned 403'
req GET /sys/internal/ui/mounts/secret
expect 403 "ui mount without token" '.errors == ["permission denied"]' 'permission denied'
req GET /sys/internal/ui/mounts
expect 200 "ui mounts without token" '.data.secret == {} and .data.auth == {}' '"data":{"auth":{},"secret":{}}'
req GET /sys/internal/ui/mounts "${R[@]}"
expect 200 "ui mounts with token" '.data.secret["kv/"].options.version == "2" and .data.secret["secret/"].options.version == "1" and (.data.auth | has("approle/"))' '"secret/":{'

# --- unknown paths and limits ----------------------------------------------
req GET /nope/here "${R[@]}"
expect 404 "unknown route" '.errors == ["no handler for route \"nope/here\". route entry not found."]' 'no handler for route \"nope/here\". route entry not found.'
req GET /nope/here
expect 403 "unknown route without token" '.errors == ["permission denied"]' 'permission denied'
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$T/big"
req POST /secret/big "${R[@]}" --data-binary @"$T/big"
expect 413 "2 MiB body" '.errors | length == 1' '{"errors":["'
req GET http://127.0.0.1:$PORT/other
expect 404 "outside /v1"

# --- AppRole ---------------------------------------------------------------
req POST /auth/approle/login --data-binary '{"role_id":"role-1","secret_id":"wrong"}'
expect 400 "approle wrong secret" '.errors == ["invalid role or secret ID"]' '{"errors":["invalid role or secret ID"]}'
req POST /auth/approle/login --data-binary '{"role_id":"nope","secret_id":"secret-1"}'
expect 400 "approle wrong role" '.errors == ["invalid role or secret ID"]' 'invalid role or secret ID'
req POST /auth/approle/login --data-binary '{"secret_id":"secret-1"}'
expect 400 "approle no role_id" '.errors == ["missing role_id"]' 'missing role_id'
req POST /auth/approle/login --data-binary '{"role_id":"role-1"}'
expect 400 "approle no secret_id" '.errors == ["missing secret_id"]' 'missing secret_id'
req GET /auth/approle/login
expect 405 "approle GET"
req POST /auth/approle/login --data-binary '{"role_id":"role-1","secret_id":"secret-1"}'
expect 200 "approle login" '(.auth.client_token | startswith("hvs.")) and (.auth.accessor | length) > 0 and .auth.policies == ["default"] and .auth.lease_duration == 3600 and .auth.renewable == true and .data == null' '"policies":["default"]'
APP=$(field .auth.client_token client_token)
[ -n "$APP" ] || fail "approle login: no client_token"
A2=(-H "X-Vault-Token: $APP")
req GET /secret/app/one "${A2[@]}"
expect 200 "read with the AppRole token" '.data.user == "u"' '"user":"u"'
req GET /auth/token/lookup-self "${A2[@]}"
expect 200 "lookup-self approle" '.data.policies == ["default"] and .data.ttl > 3500 and .data.renewable == true and .data.path == "auth/approle/login"' '"policies":["default"]'
req POST /auth/token/renew-self "${A2[@]}"
expect 200 "renew-self" '.auth.lease_duration == 3600 and .auth.client_token != null' '"lease_duration":3600'
req POST /auth/token/revoke-self "${A2[@]}"
expect 204 "revoke-self"
req GET /secret/app/one "${A2[@]}"
expect 403 "revoked token" '.errors == ["permission denied"]' 'permission denied'

# --- sealed ----------------------------------------------------------------
req POST "$CTL/seal"
expect 204 "control seal"
req GET /secret/app/one "${R[@]}"
expect 503 "sealed read" '.errors == ["Vault is sealed"]' '{"errors":["Vault is sealed"]}'
req POST /auth/approle/login --data-binary '{"role_id":"role-1","secret_id":"secret-1"}'
expect 503 "sealed login" '.errors == ["Vault is sealed"]' 'Vault is sealed'
req GET /sys/internal/ui/mounts/secret "${R[@]}"
expect 503 "sealed ui mounts" '.errors == ["Vault is sealed"]' 'Vault is sealed'
req GET /sys/health
expect 503 "sealed health" '.sealed == true and .initialized == true' '"sealed":true'
req GET "/sys/health?sealedcode=200"
expect 200 "sealed health sealedcode"
req GET /sys/seal-status
expect 200 "sealed seal-status" '.sealed == true' '"sealed":true'
req GET "$CTL/seal"
expect 405 "control seal by GET"
req POST "$CTL/unseal"
expect 204 "control unseal"
req GET /secret/app/one "${R[@]}"
expect 200 "unsealed read"

# --- the request log -------------------------------------------------------
req DELETE "$CTL/requests"
expect 204 "clear request log"
req GET /secret/app/one "${R[@]}"
req GET "/kv/data/app/cfg?version=1" -H "Authorization: Bearer $ROOT"
req GET /secret/app/one
req GET "$CTL/requests"
expect 200 "request log" 'length == 3 and .[0].method == "GET" and .[0].path == "/v1/secret/app/one" and .[0].status == 200 and .[0].token_sent == true and .[0].token_valid == true and .[0].namespace_sent == false and .[0].namespace == null and .[1].query == "version=1" and .[1].token_sent == true and .[2].token_sent == false and .[2].status == 403' '"path":"/v1/secret/app/one","query":"","status":200,"namespace_sent":false,"namespace":null,"token_sent":true'
case $BODY in *"$ROOT"*) fail "request log shows a token value" ;; esac
curl -s -o /dev/null "$BASE/sys/health?n=[1-210]"
req GET "$CTL/requests"
expect 200 "request log keeps 200" 'length == 200 and .[-1].query == "n=210" and .[0].query == "n=11"' '"query":"n=210"'

# --- delay -----------------------------------------------------------------
req POST "$CTL/delay?ms=400"
expect 204 "set delay"
t0=$(date +%s%N)
req GET /sys/health
t1=$(date +%s%N)
CHECKS=$((CHECKS + 1))
[ $(((t1 - t0) / 1000000)) -ge 400 ] ||
    fail "delay: request took $(((t1 - t0) / 1000000)) ms, want >= 400"
CHECKS=$((CHECKS + 1))
curl -s -o /dev/null --max-time 0.2 "$BASE/sys/health"
rc=$?
[ $rc = 28 ] || fail "delay: curl --max-time 0.2 exited $rc, want 28 (timeout)"
req GET "$CTL/requests"
expect 200 "control endpoints are not delayed"
req POST "$CTL/delay?ms=0"
expect 204 "reset delay"
req POST "$CTL/delay?ms=x"
expect 400 "bad delay" '.errors | length == 1' '{"errors":["'
req POST "$CTL/delay"
expect 400 "delay without ms"
req GET "$CTL/nope"
expect 404 "unknown control endpoint"

stop "$A" a
if grep -q -e "$ROOT" -e secret-1 -e "$APP" "$T/a.log"; then
	fail "the log shows a token or secret_id"
fi

# --- namespace -------------------------------------------------------------
start b --token ns-token --kv2 kv --kv1 old --namespace team/ns1
B=$PID
N=(-H "X-Vault-Token: ns-token")
req POST /kv/data/x "${N[@]}" -H "X-Vault-Namespace: team/ns1" --data-binary '{"data":{"a":1}}'
expect 200 "namespace header" '.data.version == 1' '"version":1'
req GET /kv/data/x "${N[@]}"
expect 403 "no namespace header" '.errors == ["permission denied"]' 'permission denied'
req GET /kv/data/x "${N[@]}" -H "X-Vault-Namespace: team/other"
expect 403 "wrong namespace" '.errors == ["permission denied"]' 'permission denied'
req GET /kv/data/x "${N[@]}" -H "X-Vault-Namespace: team/ns1/"
expect 200 "namespace with trailing slash" '.data.data.a == 1' '"a":1'
req GET /ns1/kv/data/x "${N[@]}" -H "X-Vault-Namespace: team"
expect 200 "namespace split between header and path" '.data.data.a == 1' '"a":1'
req GET /team/ns1/kv/data/x "${N[@]}"
expect 200 "namespace as path prefix" '.data.data.a == 1' '"a":1'
req GET /sys/internal/ui/mounts/old "${N[@]}" -H "X-Vault-Namespace: team/ns1"
expect 200 "ui mount in namespace" '.data.options.version == "1"' '"version":"1"'
req GET /sys/internal/ui/mounts/old "${N[@]}"
expect 403 "ui mount without namespace"
req GET /sys/health
expect 200 "health needs no namespace" '.enterprise == true' '"enterprise":true'
req GET /sys/seal-status
expect 200 "seal-status needs no namespace"
req GET "$CTL/requests"
expect 200 "request log records namespaces" '.[0].namespace_sent == true and .[0].namespace == "team/ns1" and .[1].namespace_sent == false and .[1].namespace == null and .[1].status == 403' '"namespace_sent":true,"namespace":"team/ns1"'
stop "$B" b

# --- started sealed, no AppRole ---------------------------------------------
start c --token t --kv1 s --sealed
C=$PID
req GET /sys/health
expect 503 "--sealed health" '.sealed == true' '"sealed":true'
req GET /s/x -H "X-Vault-Token: t"
expect 503 "--sealed read" '.errors == ["Vault is sealed"]' 'Vault is sealed'
req POST "$CTL/unseal"
req POST /auth/approle/login --data-binary '{"role_id":"a","secret_id":"b"}'
expect 403 "no --approle: login path needs a token"
req POST /auth/approle/login -H "X-Vault-Token: t" --data-binary '{"role_id":"a","secret_id":"b"}'
expect 404 "no --approle: no such route" '.errors == ["no handler for route \"auth/approle/login\". route entry not found."]' 'no handler for route'
stop "$C" c

# --- TLS -------------------------------------------------------------------
if command -v openssl >/dev/null 2>&1; then
	(
		cd "$T" &&
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key \
		    -out ca.pem -days 1 -subj /CN=vault-double-test-ca &&
		openssl req -newkey rsa:2048 -nodes -keyout server.key \
		    -out server.csr -subj /CN=127.0.0.1 &&
		printf '%s\n' 'subjectAltName=IP:127.0.0.1' \
		    'basicConstraints=CA:FALSE' \
		    'keyUsage=digitalSignature,keyEncipherment' \
		    'extendedKeyUsage=serverAuth' >server.ext &&
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
		    -CAcreateserial -out server.pem -days 1 -extfile server.ext
	) >"$T/openssl.log" 2>&1 || {
		cat "$T/openssl.log"
		fail "openssl could not make a test certificate"
	}
	start d --token tls-token --kv1 secret --tls-cert "$T/server.pem" \
	    --tls-key "$T/server.key"
	D=$PID
	BASE=https://127.0.0.1:$PORT/v1
	TL=(--cacert "$T/ca.pem" -H "X-Vault-Token: tls-token")
	req GET /sys/health --cacert "$T/ca.pem"
	expect 200 "TLS health" '.sealed == false' '"sealed":false'
	req PUT /secret/k "${TL[@]}" --data-binary '{"v":"over tls"}'
	expect 204 "TLS write"
	req GET /secret/k "${TL[@]}"
	expect 200 "TLS read" '.data.v == "over tls"' '"v":"over tls"'
	CHECKS=$((CHECKS + 1))
	curl -s -o /dev/null "$BASE/sys/health" &&
	    fail "TLS: an unknown CA was accepted"
	CHECKS=$((CHECKS + 1))
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
	    "http://127.0.0.1:$PORT/v1/sys/health")
	[ "$code" = 200 ] && fail "TLS: plain HTTP was answered 200"
	stop "$D" d
else
	echo "selftest: openssl not found, skipping the TLS checks"
fi

echo "selftest: $CHECKS checks, $FAILS failed$([ $HAVE_JQ = 1 ] || echo ' (no jq: bodies checked by fragment)')"
[ "$FAILS" = 0 ]
