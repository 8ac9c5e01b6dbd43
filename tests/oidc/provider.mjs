#!/usr/bin/env node
// A real OpenID Connect provider for supervise's integration tests.
//
// Built on the npm package `oidc-provider` (see package.json at the repo top
// for the pinned version). TEST-ONLY: it has a /test/* API that mints tokens
// with the provider's private keys and changes its behaviour on request.
//
// Start:   node tests/oidc/provider.mjs [options]
// Ready:   exactly one line of JSON on stdout once listening:
//            {"issuer":"http://127.0.0.1:PORT","port":PORT,"discovery":"...","jwks_uri":"..."}
//          Everything else (request log, warnings, errors) goes to stderr.
// Stop:    SIGTERM or SIGINT: closes the listener and exits 0.
//
// Options (CLI flags win over the config):
//   --config FILE        JSON config file (shape below)
//   --config-json JSON   the same config inline
//   --port N             listen port (default 0: any free port)
//   --host H             address to listen on and to name in the issuer (default 127.0.0.1;
//                        another loopback address such as 127.0.0.2 gives the provider its own
//                        cookie jar in a browser, apart from a relying party on 127.0.0.1)
//   --tenant TID         Azure AD shape: issuer http://H:PORT/TID/v2.0, discovery at
//                        /TID/v2.0/.well-known/openid-configuration, endpoints under
//                        /TID/oauth2/v2.0/{authorize,token,logout}, keys at
//                        /TID/discovery/v2.0/keys, userinfo at /TID/openid/userinfo;
//                        tokens carry `tid: TID`
//   --issuer-path P      issuer path when no tenant is given (default "/": issuer http://H:PORT)
//   --auto-consent       no consent page: consent is given with the login
//   --no-end-session     do not announce or serve an end_session_endpoint
//   --quiet              no request log on stderr
//
// Config JSON (every key optional):
//   {
//     "port": 0, "host": "127.0.0.1", "tenant": "TID", "issuer_path": "/",
//     "auto_consent": false, "end_session": true, "quiet": false,
//     "strict_client_auth": true,           // refuse client_secret_post from a client registered
//                                           // for client_secret_basic and the other way round
//     "id_token_ttl": 3600,                 // seconds
//     "client_auth_methods": ["client_secret_basic", "client_secret_post"],  // announced and accepted
//     "clients": [{ "client_id": "...", "client_secret": "...",
//                   "redirect_uris": ["http://127.0.0.1:5001/auth/oauth2/oidc/callback"],
//                   "post_logout_redirect_uris": ["http://127.0.0.1:5001/"],
//                   "token_endpoint_auth_method": "client_secret_basic" | "client_secret_post",
//                   ...any other oidc-provider client metadata, e.g. "id_token_signed_response_alg": "ES256" }],
//     "users": [{ "sub": "alice", "password": "alice-password", "email": "alice@example.com",
//                 "name": "Alice Example", "preferred_username": "alice@example.com",
//                 "roles": ["reader"], "groups": ["group-readers"],   // null leaves the claim out
//                 "claims": { ...extra claims, e.g. "_claim_names"/"_claim_sources" for Azure's group overage } }],
//     "claim_names": ["extra_claim"]        // extra claim names users may carry (see README)
//   }
// Without "clients" / "users" the defaults below are used (DEFAULT_CLIENTS, DEFAULT_USERS).
//
// Login form:   GET  /interaction/UID           -> HTML form id="login-form"
//               POST /interaction/UID/login     fields: login (sub, email or preferred_username), password
// Consent form: GET  /interaction/UID           -> HTML form id="consent-form"
//               POST /interaction/UID/confirm   no fields
// Cancel:       POST /interaction/UID/abort     no fields (ends the flow with error=access_denied)
// Test API:     GET /test/info, GET /test/jwks, GET /test/stats, POST /test/mint,
//               POST /test/next-token, POST /test/keys, POST /test/clients, POST /test/users,
//               POST /test/outage: see tests/oidc/README.md.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

// oidc-provider prints a warning on every start when Node.js is older than
// v22; it runs on v20 all the same. Keep stdout clean: its warnings go to
// stderr already (console.warn), as does everything we log.
import Provider from 'oidc-provider';

const log = (...args) => console.error('[oidc]', ...args);

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

const DEFAULT_CLIENTS = [
  {
    client_id: 'supervise',
    client_secret: 'supervise-client-secret',
    redirect_uris: [
      'http://127.0.0.1:5001/auth/oauth2/oidc/callback',
      'http://127.0.0.1:5001/auth/oauth2/azure/callback',
    ],
    post_logout_redirect_uris: ['http://127.0.0.1:5001/'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'supervise-post',
    client_secret: 'supervise-post-client-secret',
    redirect_uris: [
      'http://127.0.0.1:5001/auth/oauth2/oidc/callback',
      'http://127.0.0.1:5001/auth/oauth2/azure/callback',
    ],
    post_logout_redirect_uris: ['http://127.0.0.1:5001/'],
    token_endpoint_auth_method: 'client_secret_post',
  },
];

const DEFAULT_USERS = [
  {
    sub: 'alice',
    password: 'alice-password',
    email: 'alice@example.com',
    name: 'Alice Example',
    preferred_username: 'alice@example.com',
    roles: ['reader'],
    groups: ['group-readers'],
  },
  {
    sub: 'bob',
    password: 'bob-password',
    email: 'bob@example.org',
    name: 'Bob Admin',
    preferred_username: 'bob@example.org',
    roles: ['admin', 'reader'],
    groups: ['group-admins', 'group-readers'],
  },
  {
    sub: 'carol',
    password: 'carol-password',
    email: 'carol@example.net',
    name: 'Carol Norole',
    preferred_username: 'carol@example.net',
    roles: [],
    groups: [],
  },
];

// Claims that may appear in ID tokens and userinfo whatever the scope asked
// (as Azure AD puts them in every ID token), on top of the standard ones.
const ALWAYS_CLAIMS = ['tid', 'oid', 'roles', 'groups', 'wids', 'hasgroups', '_claim_names', '_claim_sources'];

function readOptions() {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      'config-json': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      tenant: { type: 'string' },
      'issuer-path': { type: 'string' },
      'auto-consent': { type: 'boolean' },
      'no-end-session': { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.error('usage: node tests/oidc/provider.mjs [--config FILE | --config-json JSON] [--port N] '
      + '[--host H] [--tenant TID | --issuer-path P] [--auto-consent] [--no-end-session] [--quiet]');
    process.exit(0);
  }

  let config = {};
  if (values.config) config = JSON.parse(fs.readFileSync(values.config, 'utf8'));
  if (values['config-json']) config = { ...config, ...JSON.parse(values['config-json']) };

  const opts = {
    port: Number(values.port ?? config.port ?? 0),
    host: values.host ?? config.host ?? '127.0.0.1',
    tenant: values.tenant ?? config.tenant ?? null,
    issuerPath: values['issuer-path'] ?? config.issuer_path ?? '/',
    autoConsent: values['auto-consent'] ?? config.auto_consent ?? false,
    endSession: values['no-end-session'] ? false : (config.end_session ?? true),
    quiet: values.quiet ?? config.quiet ?? false,
    strictClientAuth: config.strict_client_auth ?? true,
    idTokenTtl: config.id_token_ttl ?? 3600,
    clientAuthMethods: config.client_auth_methods ?? ['client_secret_basic', 'client_secret_post'],
    clients: config.clients ?? DEFAULT_CLIENTS,
    users: config.users ?? DEFAULT_USERS,
    claimNames: config.claim_names ?? [],
  };
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error(`invalid port: ${values.port ?? config.port}`);
  }
  if (opts.tenant !== null && !/^[A-Za-z0-9._-]+$/.test(opts.tenant)) {
    throw new Error(`invalid tenant (letters, digits, ".", "_", "-" only): ${opts.tenant}`);
  }
  // "/", "", "/x/" all normalise to a path without a trailing slash ("" for the root).
  opts.issuerPath = `/${opts.issuerPath.replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, '');
  return opts;
}

// ---------------------------------------------------------------------------
// Keys: ID tokens are signed with `rsa`; `ec` (ES256) and `spare` (another
// RSA key) are published too, so a client has to pick the key by `kid`.
// `foreign` is never published: tokens signed with it must be refused.
// ---------------------------------------------------------------------------

function makeKey(role, kty) {
  const { privateKey, publicKey } = kty === 'EC'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const alg = kty === 'EC' ? 'ES256' : 'RS256';
  const kid = `${role}-${crypto.randomBytes(6).toString('hex')}`;
  return {
    role,
    kid,
    alg,
    kty,
    privateKey,
    publicKey,
    publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg },
    privateJwk: { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg },
    // The public key as PEM (SPKI), exactly as `GET /test/info` returns it:
    // the default HMAC secret of the key-confusion attack.
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }),
    published: role !== 'foreign',
  };
}

// ---------------------------------------------------------------------------
// JWTs made by hand for /test/mint, so that malformed and hostile tokens can
// be made too (the provider's own tokens come from oidc-provider).
// ---------------------------------------------------------------------------

const b64url = (data) => Buffer.from(data).toString('base64url');

const HASHES = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

function signature(alg, input, key, hmacSecret) {
  const m = /^(RS|PS|ES|HS)(256|384|512)$/.exec(alg ?? '');
  if (alg === 'none') return '';
  if (!m) throw new HttpError(400, `cannot sign with alg ${JSON.stringify(alg)}`);
  const [, family, bits] = m;
  const hash = HASHES[bits];
  if (family === 'HS') return crypto.createHmac(hash, hmacSecret).update(input).digest('base64url');
  if ((family === 'ES') !== (key.kty === 'EC')) {
    throw new HttpError(400, `alg ${alg} does not fit key ${key.kid} (${key.kty}); pick another "key"`);
  }
  const options = { key: key.privateKey };
  if (family === 'PS') {
    options.padding = crypto.constants.RSA_PKCS1_PSS_PADDING;
    options.saltLength = Number(bits) / 8;
  }
  if (family === 'ES') options.dsaEncoding = 'ieee-p1363';
  return crypto.sign(hash, Buffer.from(input), options).toString('base64url');
}

// Merges `overrides` into `base`: a null value removes the key.
function merge(base, overrides = {}) {
  const out = { ...base };
  for (const [k, v] of Object.entries(overrides ?? {})) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Small HTTP helpers for the fixture's own routes.
// ---------------------------------------------------------------------------

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function readBody(req, limit = 1 << 20) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, 'body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req) {
  const text = await readBody(req);
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}

async function readForm(req) {
  return Object.fromEntries(new URLSearchParams(await readBody(req)));
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value, null, 2);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

function sendHtml(res, status, body) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Every page is self-contained: no external stylesheet, font or script.
const page = (title, body) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:28em;margin:3em auto}label,input,button{display:block;margin:.4em 0}
.error{color:#b00}</style></head>
<body><h1>${esc(title)}</h1>
${body}
</body></html>
`;

// ---------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------

async function main() {
  const opts = readOptions();
  if (!opts.quiet) log(`node ${process.version}, oidc-provider ${providerVersion()}`);

  // Users by sub; `login` accepts the sub, the email or the preferred_username.
  const users = new Map();
  const addUser = (u) => {
    if (!u || typeof u.sub !== 'string' || !u.sub) throw new HttpError(400, 'a user needs a "sub"');
    users.set(u.sub, { password: `${u.sub}-password`, ...u });
  };
  opts.users.forEach(addUser);
  const findUser = (login) => [...users.values()].find(
    (u) => u.sub === login || u.email === login || u.preferred_username === login,
  );

  const keys = [makeKey('ec', 'EC'), makeKey('rsa', 'RSA'), makeKey('spare', 'RSA'), makeKey('foreign', 'RSA')];
  const keyByRoleOrKid = (name) => keys.find((k) => k.role === name || k.kid === name);
  const rsaKey = keyByRoleOrKid('rsa');
  const publicJwks = () => ({ keys: keys.filter((k) => k.published).map((k) => k.publicJwk) });

  // Listen first: with port 0 the issuer is known only once the port is.
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, resolve);
  });
  const { port } = server.address();
  const hostPart = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const origin = `http://${hostPart}:${port}`;

  // Where oidc-provider is mounted, and its routes below that mount.
  // Azure AD v2.0: issuer /{tenant}/v2.0, but the endpoints sit beside it under /{tenant}.
  const azure = opts.tenant !== null;
  const mount = azure ? `/${opts.tenant}` : opts.issuerPath;
  const issuer = azure ? `${origin}/${opts.tenant}/v2.0` : `${origin}${opts.issuerPath}`;
  const routes = azure
    ? {
      authorization: '/oauth2/v2.0/authorize',
      token: '/oauth2/v2.0/token',
      end_session: '/oauth2/v2.0/logout',
      jwks: '/discovery/v2.0/keys',
      userinfo: '/openid/userinfo',
    }
    : {
      authorization: '/auth', token: '/token', end_session: '/session/end', jwks: '/jwks', userinfo: '/me',
    };
  const discoveryPath = azure
    ? `/${opts.tenant}/v2.0/.well-known/openid-configuration`
    : `${mount}/.well-known/openid-configuration`;
  const jwksPath = `${mount}${routes.jwks}`;
  const tokenPath = `${mount}${routes.token}`;

  // Claims a token may carry per scope. conformIdTokenClaims:false below puts
  // them in the ID token itself, as Azure AD does, not only in userinfo.
  const extraClaims = new Set([...ALWAYS_CLAIMS, ...opts.claimNames]);
  for (const u of users.values()) Object.keys(u.claims ?? {}).forEach((c) => extraClaims.add(c));
  const claims = {
    openid: ['sub', ...extraClaims],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'given_name', 'family_name'],
  };

  // The claims of one user, as ID tokens, userinfo and /test/mint give them.
  const userClaims = (u) => {
    const out = { sub: u.sub };
    for (const name of ['email', 'email_verified', 'name', 'preferred_username', 'given_name', 'family_name', 'roles', 'groups']) {
      if (u[name] !== undefined && u[name] !== null) out[name] = u[name];
    }
    if (azure) out.tid = opts.tenant;
    return merge(out, u.claims);
  };

  const provider = new Provider(issuer, {
    clients: opts.clients.map((c) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      ...c,
    })),
    clientAuthMethods: opts.clientAuthMethods,
    jwks: { keys: keys.filter((k) => k.role === 'rsa' || k.role === 'ec').map((k) => k.privateJwk) },
    cookies: {
      // Cookie names of our own, so that they cannot clash with a relying
      // party's on the same host (browsers share cookies across ports).
      names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_interaction_resume' },
      keys: [crypto.randomBytes(32).toString('hex')],
    },
    claims,
    conformIdTokenClaims: false,
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    responseTypes: ['code'],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: opts.endSession,
        logoutSource: async (ctx, form) => {
          // oidc-provider's form has only the hidden `xsrf`; the button adds logout=yes.
          ctx.type = 'html';
          ctx.body = page('Sign out', `${form.replace('<form ', '<form data-op="logout" ')}
<button id="logout-yes" type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = page('Signed out', '<p id="signed-out">You are signed out.</p>');
        },
      },
    },
    routes,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: opts.idTokenTtl,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
      RefreshToken: 86400,
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    // With --auto-consent every requested scope is granted at once.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      if (!opts.autoConsent) return undefined;
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope(ctx.oidc.params.scope ?? 'openid');
      await grant.save();
      return grant;
    },
    findAccount: async (_ctx, sub) => {
      const u = users.get(sub);
      if (!u) return undefined;
      return { accountId: sub, claims: async () => userClaims(u) };
    },
    renderError: async (ctx, out, error) => {
      log('error page:', JSON.stringify(out), error?.message ?? '');
      ctx.type = 'html';
      ctx.body = page('Error', `<pre id="error">${esc(JSON.stringify(out, null, 2))}</pre>`);
    },
  });
  provider.on('server_error', (_ctx, err) => log('server_error:', err));
  const providerCallback = provider.callback();

  // ---- state the test API changes --------------------------------------
  const stats = {};
  const count = (name) => { stats[name] = (stats[name] ?? 0) + 1; };
  const outages = new Map(); // route name -> HTTP status to answer instead
  const tokenOverrides = []; // specs for the next token responses' id_token

  // ---- /test/mint -------------------------------------------------------
  // spec: { user, client_id, claims, header, key, exp_in, iat_in, nbf_in, hmac_secret, tamper }
  // base: claims to start from instead of a user's (used by /test/next-token)
  const now = () => Math.floor(Date.now() / 1000);
  const mint = (spec = {}, base = undefined) => {
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new HttpError(400, 'spec must be an object');
    let payload;
    if (base) {
      payload = { ...base };
    } else {
      const clientId = spec.client_id ?? opts.clients[0]?.client_id;
      let who = {};
      if (spec.user !== null) {
        const u = users.get(spec.user ?? [...users.keys()][0]);
        if (!u) throw new HttpError(400, `unknown user ${JSON.stringify(spec.user)}`);
        who = userClaims(u);
      }
      payload = { iss: issuer, aud: clientId, ...who };
      if (azure) payload.ver = '2.0';
    }
    const t = now();
    if (!base || spec.iat_in !== undefined) payload.iat = t + (spec.iat_in ?? 0);
    if (!base || spec.exp_in !== undefined) payload.exp = t + (spec.exp_in ?? 3600);
    if (spec.nbf_in !== undefined) payload.nbf = t + spec.nbf_in;
    else if (!base) payload.nbf = payload.iat;
    payload = merge(payload, spec.claims);

    // The key: as named, else the EC key for an ES* alg, else the RSA key.
    // The alg: as given, else the key's own.
    const wantedAlg = spec.header?.alg;
    const key = keyByRoleOrKid(spec.key ?? (String(wantedAlg).startsWith('ES') ? 'ec' : 'rsa'));
    if (!key) throw new HttpError(400, `unknown key ${JSON.stringify(spec.key)}`);
    const alg = wantedAlg ?? key.alg;
    const header = merge({ alg, typ: 'JWT', kid: key.kid }, spec.header);
    const hmacSecret = spec.hmac_secret ?? rsaKey.publicPem;

    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    const sig = signature(header.alg, input, key, hmacSecret);
    let token = `${input}.${sig}`;
    if (spec.tamper) {
      // The signature stays that of the original payload.
      payload = merge(payload, spec.tamper.claims ?? spec.tamper);
      token = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${sig}`;
    }
    return { token, header, claims: payload };
  };

  // Re-issues the id_token of a token endpoint response per the next queued spec.
  const rewriteTokenResponse = (bodyText) => {
    const spec = tokenOverrides.shift();
    const body = JSON.parse(bodyText);
    if (typeof body.id_token !== 'string') return bodyText;
    const original = JSON.parse(Buffer.from(body.id_token.split('.')[1], 'base64url').toString('utf8'));
    body.id_token = mint(spec, original).token;
    log('token response: id_token replaced per /test/next-token');
    return JSON.stringify(body);
  };

  // ---- interaction pages (login, consent) --------------------------------
  const loginPage = (uid, details, error) => page('Sign in', `
<p>Client <code id="client">${esc(details.params.client_id)}</code> asks you to sign in.</p>
${error ? `<p class="error" id="login-error">${esc(error)}</p>` : ''}
<form id="login-form" data-op="login" method="post" action="/interaction/${esc(uid)}/login">
  <label>Login <input type="text" name="login" autocomplete="username" autofocus></label>
  <label>Password <input type="password" name="password" autocomplete="current-password"></label>
  <button id="login-submit" type="submit">Sign in</button>
</form>
<form id="abort-form" method="post" action="/interaction/${esc(uid)}/abort"><button type="submit">Cancel</button></form>`);

  const consentPage = (uid, details) => {
    const scopes = details.prompt.details.missingOIDCScope ?? [];
    return page('Consent', `
<p>Client <code id="client">${esc(details.params.client_id)}</code> asks for:
<code id="scopes">${esc(scopes.join(' '))}</code></p>
<form id="consent-form" data-op="consent" method="post" action="/interaction/${esc(uid)}/confirm">
  <button id="consent-submit" type="submit">Allow</button>
</form>
<form id="abort-form" method="post" action="/interaction/${esc(uid)}/abort"><button type="submit">Cancel</button></form>`);
  };

  const interaction = async (req, res, uid, action) => {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new HttpError(400, 'interaction does not match its cookie');
    const { prompt } = details;

    if (req.method === 'GET' && !action) {
      if (prompt.name === 'login') return sendHtml(res, 200, loginPage(uid, details));
      if (prompt.name === 'consent') return sendHtml(res, 200, consentPage(uid, details));
      throw new HttpError(500, `unexpected prompt ${prompt.name}`);
    }
    if (req.method !== 'POST') throw new HttpError(405, 'method not allowed');

    if (action === 'login') {
      if (prompt.name !== 'login') throw new HttpError(400, 'no login pending');
      const form = await readForm(req);
      const u = findUser(form.login ?? '');
      if (!u || form.password !== u.password) {
        log(`login refused for ${JSON.stringify(form.login)}`);
        return sendHtml(res, 401, loginPage(uid, details, 'Wrong login or password.'));
      }
      log(`login ok: ${u.sub}`);
      return provider.interactionFinished(req, res, { login: { accountId: u.sub } }, { mergeWithLastSubmission: false });
    }

    if (action === 'confirm') {
      if (prompt.name !== 'consent') throw new HttpError(400, 'no consent pending');
      await readBody(req);
      const { accountId } = details.session;
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId, clientId: details.params.client_id });
      const d = prompt.details;
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }

    if (action === 'abort') {
      await readBody(req);
      return provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'the user cancelled the sign-in',
      }, { mergeWithLastSubmission: false });
    }
    throw new HttpError(404, 'not found');
  };

  // ---- test API ----------------------------------------------------------
  const testApi = async (req, res, path) => {
    const route = `${req.method} ${path}`;
    switch (route) {
      case 'GET /test/info':
        return sendJson(res, 200, {
          issuer,
          port,
          discovery: `${origin}${discoveryPath}`,
          jwks_uri: `${origin}${jwksPath}`,
          tenant: opts.tenant,
          keys: keys.map((k) => ({ role: k.role, kid: k.kid, kty: k.kty, alg: k.alg, published: k.published })),
          rsa_public_pem: rsaKey.publicPem,
          clients: opts.clients.map((c) => ({ client_id: c.client_id, client_secret: c.client_secret, token_endpoint_auth_method: c.token_endpoint_auth_method })),
          users: [...users.values()],
        });
      case 'GET /test/jwks':
        return sendJson(res, 200, publicJwks());
      case 'GET /test/stats':
        return sendJson(res, 200, { requests: stats });
      case 'POST /test/mint':
        return sendJson(res, 200, mint(await readJson(req)));
      case 'POST /test/next-token': {
        const spec = await readJson(req);
        const times = spec.count ?? 1;
        delete spec.count;
        mint(spec, {}); // fail now, not at the token endpoint, when the spec cannot be signed
        for (let i = 0; i < times; i += 1) tokenOverrides.push(spec);
        return sendJson(res, 200, { queued: tokenOverrides.length });
      }
      case 'POST /test/keys': {
        const spec = await readJson(req);
        const key = makeKey(spec.role ?? 'extra', spec.kty === 'EC' ? 'EC' : 'RSA');
        key.published = spec.publish !== false;
        keys.push(key);
        return sendJson(res, 200, { kid: key.kid, kty: key.kty, alg: key.alg, published: key.published });
      }
      case 'POST /test/clients': {
        const c = { grant_types: ['authorization_code'], response_types: ['code'], ...(await readJson(req)) };
        if (!c.client_id) throw new HttpError(400, 'a client needs a "client_id"');
        try {
          await provider.Client.validate(c);
        } catch (err) {
          throw new HttpError(400, `invalid client: ${err.error_description ?? err.message}`);
        }
        await provider.Client.adapter.upsert(c.client_id, c);
        return sendJson(res, 200, { client_id: c.client_id });
      }
      case 'POST /test/users': {
        const u = await readJson(req);
        addUser(u);
        return sendJson(res, 200, { sub: u.sub });
      }
      case 'POST /test/outage': {
        // {"routes": ["jwks", "discovery", "token", "userinfo", "authorize"], "status": 503}; [] ends it.
        const spec = await readJson(req);
        outages.clear();
        for (const r of spec.routes ?? []) outages.set(r, spec.status ?? 503);
        return sendJson(res, 200, { outages: Object.fromEntries(outages) });
      }
      default:
        throw new HttpError(404, `no test route ${route}`);
    }
  };

  // ---- the request router ------------------------------------------------
  const routeName = (path) => {
    if (path === discoveryPath) return 'discovery';
    if (path === jwksPath) return 'jwks';
    if (path === tokenPath) return 'token';
    if (path === `${mount}${routes.authorization}` || path.startsWith(`${mount}${routes.authorization}/`)) return 'authorize';
    if (path === `${mount}${routes.userinfo}`) return 'userinfo';
    if (path.startsWith(`${mount}${routes.end_session}`)) return 'end_session';
    if (path.startsWith('/interaction/')) return 'interaction';
    if (path.startsWith('/test/')) return 'test';
    return 'other';
  };

  // Hands a request to oidc-provider as if it were mounted at `mountPath`.
  const toProvider = (req, res, mountPath, innerUrl) => {
    req.originalUrl = `${mountPath}${innerUrl}`;
    req.url = innerUrl;
    return providerCallback(req, res);
  };

  server.on('request', async (req, res) => {
    const started = Date.now();
    const rawUrl = req.url;
    const path = rawUrl.split('?')[0];
    const query = rawUrl.slice(path.length);
    const name = routeName(path);
    count(name);
    res.on('finish', () => {
      if (!opts.quiet) log(`${req.method} ${rawUrl} -> ${res.statusCode} (${Date.now() - started} ms)`);
    });

    try {
      if (outages.has(name)) {
        return sendJson(res, outages.get(name), { error: 'temporarily_unavailable', error_description: 'outage set by /test/outage' });
      }
      if (name === 'test') return await testApi(req, res, path);
      const im = /^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/.exec(path);
      if (im) return await interaction(req, res, im[1], im[2]);

      if (name === 'jwks') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method not allowed');
        return sendJson(res, 200, publicJwks());
      }
      if (name === 'discovery' && azure) {
        // Azure's discovery sits under the issuer (/TID/v2.0), its endpoints under /TID.
        return toProvider(req, res, mount, `/.well-known/openid-configuration${query}`);
      }
      if (azure && path === `${mount}/.well-known/openid-configuration`) throw new HttpError(404, 'not found');

      if (name === 'token' && req.method === 'POST' && opts.strictClientAuth) {
        // oidc-provider accepts either secret method from a client registered
        // for one; a real test of "use the method the provider announces"
        // needs the provider to insist. The body is read here and handed on
        // as req.body, which oidc-provider uses for a consumed stream.
        req.body = await readBody(req);
        const refusal = await clientAuthMismatch(provider, req);
        if (refusal) {
          log(`token: ${refusal}`);
          res.setHeader('www-authenticate', 'Basic realm="token"');
          return sendJson(res, 401, { error: 'invalid_client', error_description: refusal });
        }
      }

      if (name === 'token' && tokenOverrides.length) {
        // Replace the id_token of the response oidc-provider is about to send.
        const end = res.end.bind(res);
        res.end = (chunk, ...rest) => {
          if (res.statusCode === 200 && chunk) {
            try {
              const body = rewriteTokenResponse(chunk.toString('utf8'));
              res.setHeader('content-length', Buffer.byteLength(body));
              return end(body);
            } catch (err) {
              log('could not rewrite the token response:', err.message);
            }
          }
          return end(chunk, ...rest);
        };
      }

      if (path === mount || path.startsWith(`${mount}/`)) {
        return toProvider(req, res, mount, rawUrl.slice(mount.length) || '/');
      }
      throw new HttpError(404, 'not found');
    } catch (err) {
      const status = err.status ?? 500;
      if (status >= 500) log('error:', err);
      if (!res.headersSent) sendJson(res, status, { error: err.error_description ?? err.message });
      else res.destroy();
    }
  });

  // ---- readiness and shutdown ------------------------------------------
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    if (!opts.quiet) log(`${signal}: stopping`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  process.stdout.write(`${JSON.stringify({
    issuer, port, discovery: `${origin}${discoveryPath}`, jwks_uri: `${origin}${jwksPath}`,
  })}\n`);
}

// The secret method a token request used, compared with the client's
// registered one; returns a message when they differ.
async function clientAuthMismatch(provider, req) {
  const form = new URLSearchParams(req.body);
  const auth = req.headers.authorization ?? '';
  let clientId = form.get('client_id');
  let used = form.has('client_secret') ? 'client_secret_post' : 'none';
  if (/^basic /i.test(auth)) {
    used = 'client_secret_basic';
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const user = decoded.split(':')[0];
    try {
      clientId = decodeURIComponent(user.replace(/\+/g, ' '));
    } catch {
      return undefined; // malformed: oidc-provider answers that itself
    }
  }
  const client = clientId ? await provider.Client.find(clientId) : undefined;
  const registered = client?.clientAuthMethod;
  const secretMethods = ['client_secret_basic', 'client_secret_post'];
  if (!secretMethods.includes(registered) || registered === used) return undefined;
  return `client ${clientId} is registered for ${registered} but authenticated with ${used}`;
}

function providerVersion() {
  try {
    const url = new URL('../../node_modules/oidc-provider/package.json', import.meta.url);
    return JSON.parse(fs.readFileSync(url, 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

main().catch((err) => {
  log('fatal:', err);
  process.exit(1);
});
