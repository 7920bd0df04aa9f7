# shellcheck shell=bash
# Sidecars and ambient mode side by side (issue 21 item 6; sourced by scripts/bench.sh after
# bench/sidecars.sh, whose pair and constants it reuses). The same load through each data plane:
# oha at a fixed rate with latency correction (run_oha), 16 connections (SC_CONNS), POSTing the
# applicant to /credit-check/basic with `Host: kyc-credit-check-basic:8080`, at each of AM_RATES,
# rounds interleaved, a fresh mesh each. Five paths to the basic scorer:
#
# - direct: its app port, no proxy (the baseline, measured in each mesh, so that every path is
#   compared with the baseline of its own mesh and round);
# - sidecars (in `kyc-mesh up`): sidecars.sh's pair, the aggregator's sidecar outbound → mTLS →
#   basic's sidecar inbound → app;
# - l4-one-node and l4-two-nodes (in `kyc-mesh up --dataplane ambient`): a client workload's
#   outbound listener → HBONE (HTTP/2 CONNECT over mTLS, the server's SPIFFE SAN checked) → the
#   basic instance's inbound → app, on node proxies this script starts: one process carrying both
#   workloads (one node), or one per workload (two nodes, HBONE between them). `up` gives a
#   workload outbound listeners only for the Services a waypoint serves (there is no L4-only
#   path in the mesh it starts), so these node proxies (the same kyc-node-proxy binary) get a
#   configuration written here: the aggregator's and basic's identities, certificates (the mesh
#   CA's, as `up` issued them), trust root and L4 policies, read from node-1's configuration, and
#   the scorer Service without waypoint, whose one endpoint is the basic instance;
# - waypoint (the mesh `up --dataplane ambient` runs, untouched): the aggregator's outbound
#   listener on node-1 → HBONE → the waypoint Envoy (the HTTPRoute of
#   networking/scenarios/ambient.yaml: /credit-check/basic matches its second rule, basic alone;
#   /credit-check/report would be split 50/50) → HBONE → node-1's inbound of basic-0 → app.
#
# Per run: req/s, latency p50/p90/p99/p99.9, errors, each proxy's vCPU; per mesh, after the runs:
# each proxy's memory (mem_json), and the proof that the load took the path named: the L4 server
# node proxies' mTLS connection counters, the waypoint's requests to basic and to advanced.

# The fixed rates (req/s), in the order measured: as the sidecar stage's by default.
AM_RATES="${AM_RATES:-$SC_RATES}"
# The load: sidecars.sh's pair request (path and Host) on every path.
AM_PATH="$SC_SERVER_PATH"
AM_HOST="$SC_SERVER_HOST"
# The waypoint of networking/scenarios/ambient.yaml and the node `up` places the instances on.
AM_WAYPOINT=waypoint
AM_NODE="node-1"
# The scorer Service as the node proxies name it (fqdn:port) and its waypoint's clusters.
AM_SERVICE_FQDN="$SC_SERVER.default.svc.cluster.local"
AM_SERVICE_PORT=8080
# The node proxies this script starts (L4 paths), by name: their PIDs, admin ports.
declare -A AM_L4_PID=() AM_L4_ADMIN=()

# am_node_config : the configuration file of the mesh's node proxy AM_NODE (from its command line).
am_node_config() {
    local pid args
    pid="$(child_pid "node-proxy:$AM_NODE")" || die "no node proxy $AM_NODE under kyc-mesh (pid $MESH_PID)"
    args="$(ps -o args= -p "$pid")"
    [[ "$args" == *"--config "* ]] || die "node proxy $AM_NODE (pid $pid) has no --config: $args"
    args="${args##*--config }"
    echo "${args%% *}"
}

# The configuration of one of the L4 paths' node proxies (jq, on the mesh's node configuration):
# node $name with admin port $admin; with $out, the client workload (the aggregator's identity)
# and its outbound listener to the scorer Service, whose endpoint is the basic instance behind
# the HBONE port $peer; with $hbone, the server workload (basic's identity, its app, port and L4
# policies as the mesh's node proxy has them) and its HBONE listener.
# shellcheck disable=SC2016 # a jq program: its $names are jq's
AM_L4_CONFIG='
    (.workloads | map(select(.workload == $client)) | first // error("no \($client) in the mesh node configuration")) as $c
    | (.workloads | map(select(.workload == $server)) | first // error("no \($server) in the mesh node configuration")) as $s
    | def at(p): "127.0.0.1:\(p)";
    {node: $name, admin: at($admin), trust_root: .trust_root,
     workloads: ((if $out == "" then [] else [{name: "\($client)-bench", workload: $client, identity: $c.identity,
                      cert_chain: $c.cert_chain, key: $c.key,
                      outbound: [{listen: at($out), service: "\($fqdn):\($port)"}]}] end)
                 + (if $hbone == "" then [] else [{name: "\($server)-bench", workload: $server, identity: $s.identity,
                      cert_chain: $s.cert_chain, key: $s.key,
                      inbound: {hbone: at($hbone), app: $s.inbound.app, port: $s.inbound.port,
                                policies: $s.inbound.policies}}] end)),
     services: (if $out == "" then [] else [{host: $fqdn, port: ($port | tonumber),
                   endpoints: [{target: $s.inbound.app[0], workload: $server,
                                hbone: at($peer), identity: $s.identity}]}] end)}'

# am_l4_node DIR MESH_NODE_CONFIG NAME ADMIN OUTBOUND HBONE PEER : write node NAME's
# configuration (AM_L4_CONFIG; OUTBOUND or HBONE empty: no client or no server workload) and
# start it.
am_l4_node() {
    local dir="$1" mesh="$2" name="$3"
    jq --arg name "$name" --arg admin "$4" --arg out "$5" --arg hbone "$6" --arg peer "$7" \
        --arg client "$SC_CLIENT" --arg server "$SC_SERVER" --arg fqdn "$AM_SERVICE_FQDN" \
        --arg port "$AM_SERVICE_PORT" "$AM_L4_CONFIG" "$mesh" >"$dir/$name.json" ||
        die "could not write the node proxy configuration $dir/$name.json from $mesh"
    am_node_proxy_start "$name" "$dir/$name.json" "$4" "$dir/$name.log"
}

# am_l4_start WORK MESH_NODE_CONFIG : start the L4 paths' node proxies (see the header), each
# ready (/healthz) before it returns: l4-one (both workloads: one node), l4-server and l4-client
# (one workload each: two nodes). AM_L4_PID and AM_L4_ADMIN name them; the client workloads'
# outbound listeners are AM_L4_ONE and AM_L4_TWO.
am_l4_start() {
    local dir="$1/l4" mesh="$2" one_admin one_out one_hbone c_admin c_out s_admin s_hbone
    mkdir -p "$dir"
    read -r one_admin one_out one_hbone c_admin c_out s_admin s_hbone <<<"$(free_ports 7)"
    AM_L4_ONE="$one_out"
    AM_L4_TWO="$c_out"
    am_l4_node "$dir" "$mesh" l4-one "$one_admin" "$one_out" "$one_hbone" "$one_hbone"
    am_l4_node "$dir" "$mesh" l4-server "$s_admin" "" "$s_hbone" ""
    am_l4_node "$dir" "$mesh" l4-client "$c_admin" "$c_out" "" "$s_hbone"
}

# am_node_proxy_start NAME CONFIG ADMIN LOG : kyc-node-proxy --config CONFIG in the background,
# until its /healthz answers (deadline 20 s).
am_node_proxy_start() {
    local name="$1" deadline=$((SECONDS + 20))
    "$BIN_DIR/kyc-node-proxy" --config "$2" >"$4" 2>&1 &
    AM_L4_PID[$name]=$!
    AM_L4_ADMIN[$name]="$3"
    until curl -sf -o /dev/null "http://127.0.0.1:$3/healthz"; do
        kill -0 "${AM_L4_PID[$name]}" 2>/dev/null || die "node proxy $name exited: $(tail -n 5 "$4")"
        ((SECONDS < deadline)) || die "node proxy $name not ready within 20 s (log: $4)"
        sleep 0.1
    done
}

# am_l4_stop : SIGTERM the node proxies am_l4_start started, and wait for them.
am_l4_stop() {
    local name
    for name in "${!AM_L4_PID[@]}"; do
        kill -TERM "${AM_L4_PID[$name]}" 2>/dev/null || true
        wait "${AM_L4_PID[$name]}" 2>/dev/null || true
    done
    AM_L4_PID=()
    AM_L4_ADMIN=()
}

# am_expect_ok LABEL URL : one request as the runs send it must answer 200 (a path that does not
# work is not measured).
am_expect_ok() {
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
        -H "Host: $AM_HOST" --data-binary "@$BENCH_BODY" "$2" || true)"
    [[ "$code" == 200 ]] || die "$1: POST $2 (Host $AM_HOST) answered ${code:-nothing}, not 200"
}

# am_counter ADMIN METRIC LABEL... : the sum of METRIC's samples carrying every LABEL (k="v") on
# a node proxy's /metrics.
am_counter() {
    local admin="$1" metric="$2"
    shift 2
    curl -s "http://127.0.0.1:$admin/metrics" | awk -v m="$metric" -v want="$*" '
        BEGIN {n = split(want, w, " ")}
        index($0, m "{") == 1 {ok = 1; for (i = 1; i <= n; i++) if (index($0, w[i]) == 0) ok = 0; if (ok) s += $NF}
        END {print s + 0}'
}

# am_waypoint_rq ADMIN WORKLOAD : the waypoint's requests to WORKLOAD's Service answered 2xx.
am_waypoint_rq() {
    local name="cluster.outbound|$AM_SERVICE_PORT||$2.default.svc.cluster.local.upstream_rq_2xx"
    curl -s "http://127.0.0.1:$1/stats?filter=$(jq -rn --arg s "^${name//|/\\|}\$" '$s|@uri')" |
        awk -F': ' -v n="$name" '$1 == n {print $2; found=1} END {if (!found) print 0}'
}

# am_mesh_run MESH SECONDS WARMUP ROUND WORK : one mesh (MESH = sidecars: `up`; ambient:
# `up --dataplane ambient` and the L4 node proxies), its paths at each of AM_RATES, as JSON
# ({mesh, round, rates: {"1000": {direct: run, <path>: run...}}, memory_mb, checks}). Run it in
# the calling shell (not in $(...)): the cleanup trap must know what it started.
am_mesh_run() {
    local mesh="$1" secs="$2" warm="$3" round="$4" work="$5" rate p runs="{}" mem="{}" checks="{}"
    # Both meshes with their data plane (mesh_up runs edge only unless MESH_SIDECARS=1).
    # shellcheck disable=SC2034 # read by mesh_up
    local MESH_SIDECARS=1
    local direct url
    local -A procs=() urls=()
    if [[ "$mesh" == sidecars ]]; then
        mesh_up "$work" ${SC_UP_ARGS[@]+"${SC_UP_ARGS[@]}"}
        urls[sidecars]="http://127.0.0.1:$(sc_status_port "$SC_CLIENT" outbound)$AM_PATH"
        local client server
        client="$(child_pid "sidecar:$SC_CLIENT")" || die "no sidecar of $SC_CLIENT under kyc-mesh (pid $MESH_PID)"
        server="$(child_pid "sidecar:$SC_SERVER")" || die "no sidecar of $SC_SERVER under kyc-mesh (pid $MESH_PID)"
        procs[sidecars]="sidecar:$SC_CLIENT=$client sidecar:$SC_SERVER=$server"
    else
        mesh_up "$work" --dataplane ambient ${SC_UP_ARGS[@]+"${SC_UP_ARGS[@]}"}
        local node wp outbound admin wp_admin
        node="$(child_pid "node-proxy:$AM_NODE")" || die "no node proxy $AM_NODE under kyc-mesh (pid $MESH_PID)"
        wp="$(child_pid "waypoint:$AM_WAYPOINT")" || die "no waypoint $AM_WAYPOINT under kyc-mesh (pid $MESH_PID)"
        outbound="$(jq -r --arg s "$AM_SERVICE_FQDN:$AM_SERVICE_PORT" '[.ambient.outbound[]? | select(.service == $s) | .port] | first // empty' \
            "$MESH_STATE/run/mesh.json")"
        [[ "$outbound" =~ ^[0-9]+$ ]] || die "no outbound listener to $AM_SERVICE_FQDN:$AM_SERVICE_PORT in $MESH_STATE/run/mesh.json"
        am_l4_start "$work" "$(am_node_config)"
        urls[l4_one_node]="http://127.0.0.1:$AM_L4_ONE$AM_PATH"
        procs[l4_one_node]="node-proxy:l4-one=${AM_L4_PID[l4-one]}"
        urls[l4_two_nodes]="http://127.0.0.1:$AM_L4_TWO$AM_PATH"
        procs[l4_two_nodes]="node-proxy:l4-client=${AM_L4_PID[l4-client]} node-proxy:l4-server=${AM_L4_PID[l4-server]}"
        urls[waypoint]="http://127.0.0.1:$outbound$AM_PATH"
        procs[waypoint]="node-proxy:$AM_NODE=$node waypoint:$AM_WAYPOINT=$wp"
    fi
    direct="http://127.0.0.1:$(sc_status_port "$SC_SERVER" instance)$AM_PATH"
    am_expect_ok direct "$direct"
    for p in "${!urls[@]}"; do am_expect_ok "$p" "${urls[$p]}"; done
    local paths=(direct sidecars)
    [[ "$mesh" == sidecars ]] || paths=(direct l4_one_node l4_two_nodes waypoint)
    for rate in $AM_RATES; do
        local one="{}" r named
        for p in "${paths[@]}"; do
            url="$direct"
            [[ "$p" == direct ]] || url="${urls[$p]}"
            read -ra named <<<"${procs[$p]:-}"
            r="$(BENCH_HOST="$AM_HOST" fixed_rate_run "ambient-$p-$rate" "$url" "$secs" "$warm" "$rate" "$SC_CONNS" \
                ${named[@]+"${named[@]}"})"
            jq -r --arg p "$p" '"    \($p): \(.rps) req/s, p50/p90/p99/p99.9 \(.latency_ms.p50)/\(.latency_ms.p90)/\(.latency_ms.p99)/\(.latency_ms.p99_9) ms, errors \(.errors.total), vCPU \(.vcpu | to_entries | map("\(.key) \(.value)") | join(", "))"' <<<"$r" >&2
            one="$(jq --arg p "$p" --argjson r "$r" '. + {($p): $r}' <<<"$one")"
        done
        runs="$(jq --arg rate "$rate" --argjson one "$one" '. + {($rate): $one}' <<<"$runs")"
    done
    local np
    for p in "${!procs[@]}"; do
        for np in ${procs[$p]}; do
            mem="$(jq --arg p "${np%=*}" --argjson m "$(mem_json "${np##*=}")" '. + {($p): $m}' <<<"$mem")"
        done
    done
    if [[ "$mesh" == ambient ]]; then
        wp_admin="$(jq -r --arg w "$AM_WAYPOINT" '.ambient.waypoints[] | select(.name == $w) | .admin' "$MESH_STATE/run/mesh.json")"
        checks="$(jq -n --argjson one "$(am_counter "${AM_L4_ADMIN[l4-one]}" istio_tcp_connections_opened_total 'reporter="destination"' 'connection_security_policy="mutual_tls"')" \
            --argjson two "$(am_counter "${AM_L4_ADMIN[l4-server]}" istio_tcp_connections_opened_total 'reporter="destination"' 'connection_security_policy="mutual_tls"')" \
            --argjson basic "$(am_waypoint_rq "$wp_admin" "$SC_SERVER")" \
            --argjson advanced "$(am_waypoint_rq "$wp_admin" kyc-credit-check-advanced)" \
            '{l4_mtls_connections_opened: {l4_one_node: $one, l4_two_nodes: $two},
              waypoint_requests_2xx: {"kyc-credit-check-basic": $basic, "kyc-credit-check-advanced": $advanced}}')"
        am_l4_stop
    fi
    mesh_down
    jq -n --arg mesh "$mesh" --argjson round "$round" --argjson rates "$runs" --argjson mem "$mem" \
        --argjson checks "$checks" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
        '{mesh: $mesh, round: $round, load_average_at_end: $load, rates: $rates, memory_mb: $mem, checks: $checks}'
}

# ambient_ab WORK SECONDS WARMUP ROUNDS : every run and the summary, as JSON. Added latency is a
# path − direct in the same mesh and round, summarised as the median of the rounds with their
# spread; vCPU per proxy pass per 1,000 req/s divides a path's proxies' CPU by its two passes
# (client side, server side; one node proxy process does both on one node).
ambient_ab() {
    local work="$1" secs="$2" warm="$3" rounds="$4" runs="[]" round mesh
    for ((round = 1; round <= rounds; round++)); do
        for mesh in sidecars ambient; do
            info "sidecars and ambient: $mesh mesh, round $round/$rounds, at ${AM_RATES// /, } req/s, ${secs}s each, $SC_CONNS connections"
            am_mesh_run "$mesh" "$secs" "$warm" "$round" "$work" >"$work/ambient-run.json"
            runs="$(jq --slurpfile r "$work/ambient-run.json" '. + $r' <<<"$runs")"
        done
    done
    jq --arg rates "$AM_RATES" --arg waypoint "waypoint:$AM_WAYPOINT" "$BENCH_JQ_STATS"'
        def mesh_of(p): if p == "sidecars" then "sidecars" else "ambient" end;
        # runs(r; p): the runs of the mesh that measured path p at rate r, round by round.
        def runs_in(m; r; p): map(select(.mesh == m and .rates[r][p] != null));
        def runs(r; p): runs_in(mesh_of(p); r; p);
        def q: ("p50", "p90", "p99", "p99_9");
        def sum(prefix): .vcpu | to_entries | map(select(.key | startswith(prefix)) | .value) | add // 0;
        def per1k(r; p; f): runs(r; p) | map(.rates[r][p] | (f) / (.rps / 1000)) | spread;
        def path_in(mesh; r; p): runs_in(mesh; r; p) as $m
            | {rps: ($m | map(.rates[r][p].rps) | median),
               latency_ms: (reduce q as $q ({}; . + {($q): ($m | map(.rates[r][p].latency_ms[$q]) | median)})),
               added_ms: (reduce q as $q ({}; . + {($q): ($m | map(.rates[r][p].latency_ms[$q] - .rates[r].direct.latency_ms[$q]) | spread)})),
               errors: ($m | map(.rates[r][p].errors.total) | add)};
        def path(r; p): path_in(mesh_of(p); r; p);
        def memory(prefix): [map(.memory_mb | to_entries | map(select(.key | startswith(prefix)) | .value))[] | select(length > 0)]
            | . as $l | if length == 0 then null else
              reduce ("anon", "rss", "pss") as $f ({}; . + {($f): ($l | map(map(.[$f]) | add / length) | median | . * 10 | round / 10)}) end;
        . as $runs
        | {runs: $runs,
           summary: {
             rates: ($rates | split(" ") | map(select(. != "")) | map(. as $r | {key: $r, value: ($runs | {
               direct: {sidecars_mesh: path_in("sidecars"; $r; "direct"), ambient_mesh: path_in("ambient"; $r; "direct")},
               sidecars: (path($r; "sidecars") + {vcpu_per_proxy_per_1000_rps: {sidecar: per1k($r; "sidecars"; sum("sidecar:") / 2)}}),
               l4_one_node: (path($r; "l4_one_node") + {vcpu_per_proxy_per_1000_rps: {node_proxy_pass: per1k($r; "l4_one_node"; sum("node-proxy:") / 2),
                                                                                       node_proxy_process: per1k($r; "l4_one_node"; sum("node-proxy:"))}}),
               l4_two_nodes: (path($r; "l4_two_nodes") + {vcpu_per_proxy_per_1000_rps: {node_proxy_pass: per1k($r; "l4_two_nodes"; sum("node-proxy:") / 2),
                                                                                         client_node: per1k($r; "l4_two_nodes"; .vcpu["node-proxy:l4-client"]),
                                                                                         server_node: per1k($r; "l4_two_nodes"; .vcpu["node-proxy:l4-server"])}}),
               waypoint: (path($r; "waypoint") + {vcpu_per_proxy_per_1000_rps: {node_proxy_pass: per1k($r; "waypoint"; sum("node-proxy:") / 2),
                                                                                 waypoint: per1k($r; "waypoint"; .vcpu[$waypoint])}})})}) | from_entries),
             memory_mb: {sidecar: ($runs | memory("sidecar:")),
                         node_proxy_l4_one_node: ($runs | memory("node-proxy:l4-one")),
                         node_proxy_l4_two_nodes: ($runs | memory("node-proxy:l4-client") as $c | $runs | memory("node-proxy:l4-server") as $s
                                                   | if $c == null then null else {anon: ((($c.anon + $s.anon) / 2 * 10 | round) / 10), rss: ((($c.rss + $s.rss) / 2 * 10 | round) / 10), pss: ((($c.pss + $s.pss) / 2 * 10 | round) / 10)} end),
                         node_proxy_mesh: ($runs | memory("node-proxy:node-")),
                         waypoint: ($runs | memory("waypoint:"))},
             checks: ($runs | map(select(.mesh == "ambient") | .checks)),
             load_average_at_end: ($runs | map("\(.mesh) \(.round): \(.load_average_at_end)")),
             # Istio 1.24 (istio.io, Performance and Scalability, "Performance summary for Istio
             # 1.24"), at 1,000 HTTP requests/s with 1 KB payloads: ztunnel 0.06 vCPU and 12 MB,
             # a waypoint 0.25 vCPU and 60 MB, a sidecar (2 worker threads) 0.20 vCPU and 60 MB.
             istio_published: {version: "1.24", per_1000_rps: {ztunnel: {vcpu: 0.06, mb: 12}, waypoint: {vcpu: 0.25, mb: 60},
                                                              sidecar: {vcpu: 0.20, mb: 60}}}}}' <<<"$runs"
}

# ambient_table FILE : the side by side, for the terminal.
ambient_table() {
    jq -r '.summary as $s | $s.istio_published.per_1000_rps as $i
        | def pad(n): tostring | . + " " * ([n - length, 1] | max);
          def signed: if . == null then "n/a" elif . < 0 then tostring else "+\(.)" end;
          def sp(x): if x == null then "n/a" else "\(x.median) [\(x.min)..\(x.max)]" end;
          def lat(x): "\(x.p50)/\(x.p90)/\(x.p99)/\(x.p99_9)";
          def added(x): [x.p50, x.p90, x.p99, x.p99_9] | map(.median | signed) | join("/");
          def mem(x): if x == null then "n/a" else "\(x.anon) MB anonymous, RSS \(x.rss) MB" end;
        ($s.rates | to_entries[] | .key as $r | .value as $v
         | "  at \($r) req/s: \("path" | pad(14))\("p50/p90/p99/p99.9 ms" | pad(28))\("added (median of rounds)" | pad(30))\("req/s" | pad(9))errors",
           "    \("direct" | pad(26))\(lat($v.direct.ambient_mesh.latency_ms) | pad(28))\("" | pad(30))\($v.direct.ambient_mesh.rps | pad(9))\($v.direct.ambient_mesh.errors)",
           (["sidecars", "l4_one_node", "l4_two_nodes", "waypoint"][] as $p | $v[$p]
            | "    \($p | pad(26))\(lat(.latency_ms) | pad(28))\(added(.added_ms) | pad(30))\(.rps | pad(9))\(.errors)"),
           "    vCPU per 1000 req/s: sidecar \(sp($v.sidecars.vcpu_per_proxy_per_1000_rps.sidecar)) (Istio \($i.sidecar.vcpu)); node proxy per pass: L4 one node \(sp($v.l4_one_node.vcpu_per_proxy_per_1000_rps.node_proxy_pass)), L4 two nodes \(sp($v.l4_two_nodes.vcpu_per_proxy_per_1000_rps.node_proxy_pass)), waypoint path \(sp($v.waypoint.vcpu_per_proxy_per_1000_rps.node_proxy_pass)) (Istio ztunnel \($i.ztunnel.vcpu)); waypoint \(sp($v.waypoint.vcpu_per_proxy_per_1000_rps.waypoint)) (Istio \($i.waypoint.vcpu))"),
        "  memory: sidecar \(mem($s.memory_mb.sidecar)) (Istio \($i.sidecar.mb) MB); node proxy: L4 one node \(mem($s.memory_mb.node_proxy_l4_one_node)), L4 two nodes \(mem($s.memory_mb.node_proxy_l4_two_nodes)), the mesh node proxy (waypoint path) \(mem($s.memory_mb.node_proxy_mesh)) (Istio ztunnel \($i.ztunnel.mb) MB); waypoint \(mem($s.memory_mb.waypoint)) (Istio \($i.waypoint.mb) MB)",
        "  checks: \($s.checks | map("L4 mTLS connections \(.l4_mtls_connections_opened.l4_one_node)/\(.l4_mtls_connections_opened.l4_two_nodes), waypoint 2xx basic \(.waypoint_requests_2xx["kyc-credit-check-basic"]) advanced \(.waypoint_requests_2xx["kyc-credit-check-advanced"])") | join(" | "))",
        (if (.machine.load_average_at_start // "" | split(" ")[0] | tonumber? // 0) > (.machine.nproc // 1) / 4
         then "  NOTE: load average \(.machine.load_average_at_start) at start on \(.machine.nproc) cores: other work shared the cores; the latency lines are not conclusive"
         else empty end),
        "  load average at the end of each mesh: \($s.load_average_at_end | join(" | "))"' "$1"
}
