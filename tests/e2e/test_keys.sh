#!/usr/bin/env bash
# Configuration and keys through the real plugin: a plugin installed with
# PRIVATEER_NAME and a config mount holding privateer.json and a file key
# store passes `privateer check` through its socket; a rotated key reaches
# it with `privateer reload` (and SIGHUP); an unreachable key store leaves
# Docker served with the reason in the status; without a config the plugin
# is a standalone volume driver.
. "$(dirname "$0")/lib.sh"
e2e_init
P=$PRIVATEER_BUILD/privateer
cfgdir=$E2E_TMP/bob/config
mkdir -p "$cfgdir"
cp "$PRIVATEER_SRC/example/privateer.json" "$cfgdir/privateer.json"

e2e_log "keygen --all into the file store"
out=$("$P" --config "$cfgdir/privateer.json" keygen --all)
assert_contains "$out" "generated a key for bob" "keygen"
assert_contains "$out" "generated a key for alice" "keygen"
assert_eq "$(stat -c %a "$cfgdir/keys")" 700 "key directory mode"
assert_eq "$(stat -c %a "$cfgdir/keys/bob")" 600 "key file mode"

e2e_start_dockerd bob
e2e_busybox_image bob
e2e_install_plugin bob PRIVATEER_NAME=bob
sock=/run/docker/plugins/$(e2e_plugin_id bob)/privateer.sock
C() { "$P" --socket "$sock" --config "$cfgdir/privateer.json" --as bob "$@"; }
wait_loaded() {
	for _ in $(seq 1 60); do
		C check >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	C check || true
	e2e_fail "the plugin did not load its keys"
}

e2e_log "privateer check passes through the plugin"
wait_loaded
out=$(C check)
assert_contains "$out" "identity: bob (client)" "check"
assert_contains "$out" "plugin: /etc/privateer/privateer.json bob, role client" "check"
fp=$("$P" --config "$cfgdir/privateer.json" --as bob check | sed -n 's/^keys: \(ssh-ed25519 [^ ]*\).*/\1/p')
[ -n "$fp" ] || e2e_fail "no fingerprint in check output"
assert_contains "$out" "keys: $fp from the file store /etc/privateer/keys" "plugin's key"
assert_contains "$out" "peer alice: ssh-ed25519" "plugin's peer key"

e2e_log "the plugin's key never appears in its log or inspect output"
priv=$(sed -n 's/.*"private": "-----BEGIN OPENSSH PRIVATE KEY-----\\n\([A-Za-z0-9+/]\{20\}\).*/\1/p' "$cfgdir/keys/bob")
[ -n "$priv" ] || e2e_fail "cannot read the private key material for the leak check"
if grep -qF "$priv" "$E2E_TMP/bob/dockerd.log"; then e2e_fail "private key in the daemon log"; fi
if dk bob plugin inspect privateer | grep -qF "$priv"; then e2e_fail "private key in plugin inspect"; fi

e2e_log "a rotated key reaches the plugin with privateer reload"
"$P" --config "$cfgdir/privateer.json" keygen bob | grep -q "rotated the key of bob" ||
	e2e_fail "keygen did not say it rotated the key"
newfp=$("$P" --config "$cfgdir/privateer.json" --as bob check | sed -n 's/^keys: \(ssh-ed25519 [^ ]*\).*/\1/p')
[ "$newfp" != "$fp" ] || e2e_fail "keygen did not change the key"
assert_contains "$(C check || true)" "keys: $fp" "plugin before reload"
C reload >/dev/null
assert_contains "$(C check)" "keys: $newfp" "plugin after reload"

e2e_log "SIGHUP reloads too"
"$P" --config "$cfgdir/privateer.json" keygen bob >/dev/null
hupfp=$("$P" --config "$cfgdir/privateer.json" --as bob check | sed -n 's/^keys: \(ssh-ed25519 [^ ]*\).*/\1/p')
kill -HUP "$(e2e_plugin_pid bob)"
for _ in $(seq 1 40); do C check 2>/dev/null | grep -qF "keys: $hupfp" && break; sleep 0.25; done
assert_contains "$(C check)" "keys: $hupfp" "plugin after SIGHUP"

e2e_log "an unreachable key store: Docker is still served, the reason is reported"
cat >"$cfgdir/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": 10022 } ],
  "clients": [ { "name": "bob", "backup": ["user_data"] } ],
  "volumes": [ { "name": "user_data" } ],
  "vault": { "url": "http://127.0.0.1:9", "prefix": "/secret/privateer", "token": "not-a-real-token", "kv_version": 1 }
}
JSON
out=$(must_fail C reload)
assert_contains "$out" "key store unavailable: cannot reach Vault at http://127.0.0.1:9" "reload with Vault down"
dk bob volume create -d privateer -o backup=alice stillserved >/dev/null
run_bb bob --rm -v stillserved:/data -- sh -c 'echo ok > /data/f'
assert_eq "$(run_bb bob --rm -v stillserved:/data -- cat /data/f)" ok "volume while keys are unavailable"
if grep -q "not-a-real-token" "$E2E_TMP/bob/dockerd.log"; then e2e_fail "Vault token in the daemon log"; fi

e2e_log "an invalid config is reported with every error and field path"
printf '{"servers":[{"name":"alice","hostname":"h","port":70000}],"clients":[{"name":"bob","backup":["x"]}],"volumes":[]}' >"$cfgdir/privateer.json"
out=$(must_fail C reload)
assert_contains "$out" "servers[0].port: 70000 is outside 1-65535" "invalid config"
assert_contains "$out" 'clients[0].backup[0]: volume "x" is not in volumes' "invalid config"

e2e_log "standalone: no privateer.json at all"
rm "$cfgdir/privateer.json"
dk bob plugin disable -f privateer >/dev/null
dk bob plugin enable privateer >/dev/null
out=$(C check 2>&1 || true)
assert_contains "$out" "role standalone" "standalone plugin"
assert_eq "$(run_bb bob --rm -v stillserved:/data -- cat /data/f)" ok "standalone volume"
