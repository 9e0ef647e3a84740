# build/bench/lib.sh: shared by the build/bench-* scripts that measure
# build/run's sandbox.  Sourced, not run; it sources build/lib.sh.
#
# sandbox_up starts the sandbox unless it answers and sets base, org and db
# from var/sandbox.json.  The helpers below use those, $work (a scratch
# directory the script makes) and $tok (an access token, from access_token).
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

bench_lua=$top/build/bench
sandbox=$VAR/sandbox.json

# A string field of var/sandbox.json.
get() { sed -n "s/.*\"$1\": \"\([^\"]*\)\".*/\1/p" "$sandbox" | head -1; }

sandbox_up() {
  if ! [ -f "$sandbox" ] || ! curl -fs -o /dev/null "$(get base_url)/metadata"; then
    "$top/build/run" >/dev/null
  fi
  base=$(get base_url); org=$(get org_id); db=$(get db)
}

psqlc() { (cd / && as_user "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -d "$db" "$@"); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

# A fresh access token of the sandbox organization.
access_token() {
  "$top/dpc-client" token --sandbox "$sandbox" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}

# sign_forms N FILE: N /Token/auth form bodies, one a line, each with its own
# freshly signed client assertion (a jti is good once), signed on two cores.
sign_forms() {
  local n=$1 out=$2 half=$(($1 / 2))
  local prefix='grant_type=client_credentials&scope=system%2F*.*&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion='
  local p1 p2
  "$top/dpc-client" jwt --sandbox "$sandbox" --count "$half" > "$out.1" & p1=$!
  "$top/dpc-client" jwt --sandbox "$sandbox" --count $((n - half)) > "$out.2" & p2=$!
  wait "$p1" && wait "$p2" || die "dpc-client jwt failed"
  cat "$out.1" "$out.2" | awk -v p="$prefix" '{ sub(/^\{"jwt":"/, ""); sub(/"\}$/, ""); print p $0 }' > "$out"
  rm -f "$out.1" "$out.2"
}

# An API call with $tok: the status is printed, the body goes to $work/out.
api() {
  curl -s -o "$work/out" -w '%{http_code}' -H "Authorization: Bearer $tok" \
    -H 'Content-Type: application/fhir+json' "$@"
}

# NPI PREFIX (7 digits) followed by I (2 digits) and its Luhn check digit
# (over the 80840 prefix).
npi() {
  awk -v b="$(printf '%s%02d' "$1" "$2")" 'BEGIN {
    s = "80840" b; t = 0
    for (i = length(s); i >= 1; i--) {
      d = substr(s, i, 1) + 0
      if ((length(s) - i) % 2 == 0) { d *= 2; if (d > 9) d -= 9 }
      t += d }
    print b (10 - t % 10) % 10 }'
}

# roster NPI COUNT OFFSET: a new Group of the sandbox organization holding
# the COUNT beneficiaries after OFFSET in MBI order, attributed to
# practitioner NPI; prints the Group's id.
roster() {
  local npi=$1 count=$2 offset=$3 prac prov code
  psqlc -c "SELECT mbi FROM beneficiary ORDER BY mbi LIMIT $count OFFSET $offset" > "$work/mbis"
  api -X POST --data-binary "{\"resourceType\":\"Practitioner\",\"identifier\":[{\"system\":\"http://hl7.org/fhir/sid/us-npi\",\"value\":\"$npi\"}],\"name\":[{\"family\":\"Bench\",\"given\":[\"Export\"]}]}" "$base/Practitioner" >/dev/null
  prac=$(psqlc -c "SELECT id FROM practitioner WHERE org_id = '$org' AND npi = '$npi'")
  prov=$(provenance "$org" "$prac")
  awk -v npi="$npi" '{ printf "%s{\"entity\":{\"identifier\":{\"system\":\"http://hl7.org/fhir/sid/us-mbi\",\"value\":\"%s\"}},\"extension\":[{\"url\":\"http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributedProvider\",\"valueReference\":{\"identifier\":{\"system\":\"http://hl7.org/fhir/sid/us-npi\",\"value\":\"%s\"}}}]}", (NR > 1 ? "," : ""), $1, npi }
    BEGIN { printf "{\"resourceType\":\"Group\",\"type\":\"person\",\"actual\":true,\"member\":[" }
    END { print "]}" }' "$work/mbis" > "$work/group.json"
  code=$(api -X POST -H "X-Provenance: $prov" --data-binary @"$work/group.json" "$base/Group")
  [ "$code" = 201 ] || die "Group: $code $(head -c 300 "$work/out")"
  # the Group made (on v2 every POST makes a new one): its id, as answered
  perl -MJSON::PP -0777 -ne 'print decode_json($_)->{id}, "\n"' "$work/out"
}

# kickoff GROUP: an export of the Group; prints the job's status URL (empty
# if the kick-off was refused).
kickoff() {          # kickoff GROUP [QUERY]: the job's URL
  curl -s -D - -o /dev/null -H "Authorization: Bearer $tok" -H 'Prefer: respond-async' \
    "$base/Group/$1/\$export${2:-}" | sed -n 's/^Content-Location: \(.*\)\r$/\1/p'
}
