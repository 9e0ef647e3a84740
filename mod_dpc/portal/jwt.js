/* The JWT Tool: signs a DPC client assertion in the browser with WebCrypto
 * (RS384 for RSA keys, ES384 for EC P-384 keys) and can exchange it at the
 * token endpoint.  The private key is read from the page (or a local file)
 * and is never sent: the only requests are the JWT's exchange and the
 * optional API call with the access token.  No library, no build step; it
 * works from a file:// URL. */
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
  var OID_RSA = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
  var OID_EC = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
  var OID_P384 = [0x2b, 0x81, 0x04, 0x00, 0x22];

  function status(msg, bad) {
    var s = $("status");
    s.textContent = msg;
    s.className = "result " + (bad ? "error" : "note");
  }

  function b64url(bytes) {
    var s = "", i;
    for (i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function utf8(s) { return new TextEncoder().encode(s); }

  /* DER: a length, and an element of a tag around content bytes. */
  function derLen(n) {
    if (n < 128) return [n];
    var out = [];
    while (n > 0) { out.unshift(n & 0xff); n >>= 8; }
    return [0x80 | out.length].concat(out);
  }
  function der(tag, content) {
    return [tag].concat(derLen(content.length), Array.from(content));
  }

  /* The PEM's label and DER bytes. */
  function readPem(text) {
    var m = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
    if (!m) throw new Error("paste the private key's PEM, from -----BEGIN to -----END");
    var bin = atob(m[2].replace(/\s+/g, "")), bytes = new Uint8Array(bin.length), i;
    for (i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return { label: m[1], der: bytes };
  }

  function contains(bytes, oid) {
    var i, j;
    for (i = 0; i + oid.length <= Math.min(bytes.length, 64); i++) {
      for (j = 0; j < oid.length && bytes[i + j] === oid[j]; j++);
      if (j === oid.length) return true;
    }
    return false;
  }

  /* A PKCS#8 key of the traditional forms (PKCS#1 RSA, SEC1 EC). */
  function pkcs8(algOid, params, inner) {
    var alg = der(0x30, der(0x06, algOid).concat(params));
    return new Uint8Array(der(0x30, [0x02, 0x01, 0x00].concat(alg, der(0x04, inner))));
  }

  /* { key: CryptoKey, alg: "RS384" | "ES384" } from the PEM text. */
  function importKey(text) {
    var pem = readPem(text), bytes, rsa;
    if (pem.label === "ENCRYPTED PRIVATE KEY")
      throw new Error("the key is encrypted: decrypt it first (openssl pkey -in key.pem -out plain.pem)");
    if (/PUBLIC KEY/.test(pem.label))
      throw new Error("that is a public key: the JWT is signed with the private key");
    if (pem.label === "RSA PRIVATE KEY") bytes = pkcs8(OID_RSA, [0x05, 0x00], pem.der);
    else if (pem.label === "EC PRIVATE KEY") bytes = pkcs8(OID_EC, der(0x06, OID_P384), pem.der);
    else if (pem.label === "PRIVATE KEY") bytes = pem.der;
    else throw new Error("unknown PEM: " + pem.label);
    rsa = contains(bytes, OID_RSA);
    if (!rsa && !contains(bytes, OID_EC)) throw new Error("only RSA and EC P-384 keys are accepted");
    var algo = rsa ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" }
                   : { name: "ECDSA", namedCurve: "P-384" };
    return crypto.subtle.importKey("pkcs8", bytes, algo, false, ["sign"]).then(function (key) {
      return { key: key, alg: rsa ? "RS384" : "ES384" };
    }, function () {
      throw new Error(rsa ? "the RSA key could not be read" : "the EC key could not be read (P-384 only)");
    });
  }

  function uuid() {
    var b = crypto.getRandomValues(new Uint8Array(16)), h = "", i;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    for (i = 0; i < 16; i++) h += (b[i] + 0x100).toString(16).slice(1);
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" +
           h.slice(16, 20) + "-" + h.slice(20);
  }

  function sign(k, token, kid, aud) {
    var now = Math.floor(Date.now() / 1000);
    var head = b64url(utf8(JSON.stringify({ alg: k.alg, kid: kid, typ: "JWT" })));
    var body = b64url(utf8(JSON.stringify({ iss: token, sub: token, aud: aud, iat: now,
                                            exp: now + 300, jti: uuid() })));
    var algo = k.alg === "RS384" ? { name: "RSASSA-PKCS1-v1_5" }
                                 : { name: "ECDSA", hash: "SHA-384" };
    return crypto.subtle.sign(algo, k.key, utf8(head + "." + body)).then(function (sig) {
      return head + "." + body + "." + b64url(new Uint8Array(sig));
    });
  }

  function generate() {
    var token = $("client-token").value.trim(), kid = $("key-id").value.trim(),
        aud = $("token-url").value.trim();
    if (!window.crypto || !crypto.subtle)
      return status("This browser offers no WebCrypto here (it needs https, localhost or a file).", true);
    if (!token || !kid || !aud) return status("Fill in the client token, the key ID and the token URL.", true);
    status("Signing...");
    Promise.resolve().then(function () { return importKey($("private-key").value); })
      .then(function (k) { return sign(k, token, kid, aud).then(function (jwt) { return [k, jwt]; }); })
      .then(function (kj) {
        $("jwt").value = kj[1];
        $("exchange").disabled = false;
        status("JWT signed with " + kj[0].alg + ". It expires in 5 minutes.");
      }, function (e) { status(e.message, true); });
  }

  function exchange() {
    var form = new URLSearchParams();
    form.set("grant_type", "client_credentials");
    form.set("scope", "system/*.*");
    form.set("client_assertion_type", ASSERTION_TYPE);
    form.set("client_assertion", $("jwt").value);
    status("Asking for an access token...");
    fetch($("token-url").value.trim(), { method: "POST", body: form, credentials: "omit",
                                         headers: { Accept: "application/json" } })
      .then(function (res) { return res.json().then(function (v) { return [res, v]; }); })
      .then(function (rv) {
        if (!rv[0].ok) throw new Error(rv[1].error_description || rv[1].error || ("HTTP " + rv[0].status));
        $("access-token").value = rv[1].access_token;
        $("call").disabled = false;
        status("Access token issued: valid " + rv[1].expires_in + " s, scope " + rv[1].scope + ".");
      })
      .catch(function (e) { status("The token endpoint refused: " + e.message, true); });
  }

  function callApi() {
    var base = $("token-url").value.trim().replace(/\/Token\/auth$/, "");
    fetch(base + "/Organization", { credentials: "omit", headers: {
      Authorization: "Bearer " + $("access-token").value, Accept: "application/fhir+json" } })
      .then(function (res) { return res.text().then(function (t) { return [res, t]; }); })
      .then(function (rt) {
        var text = rt[1];
        try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* as sent */ }
        $("api-result").value = "HTTP " + rt[0].status + "\n" + text;
      })
      .catch(function (e) { $("api-result").value = "failed: " + e.message; });
  }

  function prefill() {
    var h = new URLSearchParams(location.hash.slice(1));
    if (h.get("kid")) $("key-id").value = h.get("kid");
    if (h.get("aud")) $("token-url").value = h.get("aud");
    else if (/^https?:$/.test(location.protocol))
      $("token-url").value = location.origin + "/api/v2/Token/auth";
  }

  $("private-key-file").addEventListener("change", function () {
    var f = this.files[0];
    if (f) f.text().then(function (t) { $("private-key").value = t; });
  });
  $("generate").addEventListener("click", generate);
  $("exchange").addEventListener("click", exchange);
  $("call").addEventListener("click", callApi);
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button.copy");
    if (btn && navigator.clipboard)
      navigator.clipboard.writeText($(btn.getAttribute("data-copy")).value).then(function () {
        btn.textContent = "Copied";
      });
  });
  document.documentElement.classList.add("js");
  prefill();
})();
