// A single-key NIP-46 remote signer written with nostr-tools, the baseline that
// scripts/bench-bunker.sh measures passport's bunker against (beside nostr-connect's own
// signer). One key is both the transport key and the user key; every request is
// approved. It answers connect, ping, get_public_key, sign_event, nip44_encrypt/decrypt
// and nip04_encrypt/decrypt, replying in the scheme the request came in (NIP-44, or
// NIP-04 for older clients).
//
//   node --experimental-websocket bench-signer.mjs RELAY_URL
//
// stdout: its bunker:// URI once the subscription is open (requests sent after that
// line are not lost); then it serves until killed. Errors on stderr.
import { finalizeEvent, generateSecretKey, getPublicKey } from 'nostr-tools/pure'
import { Relay } from 'nostr-tools/relay'
import * as nip44 from 'nostr-tools/nip44'
import * as nip04 from 'nostr-tools/nip04'

const url = process.argv[2]
if (!url) {
  console.error('usage: bench-signer.mjs RELAY_URL')
  process.exit(1)
}

const sk = generateSecretKey()
const pk = getPublicKey(sk)
// One conversation key per client: deriving it is an ECDH, which a fast signer caches.
const keys = new Map()
const conv = (peer) => {
  let k = keys.get(peer)
  if (!k) {
    k = nip44.getConversationKey(sk, peer)
    keys.set(peer, k)
  }
  return k
}

function answer(method, params) {
  switch (method) {
    case 'connect':
      return 'ack'
    case 'ping':
      return 'pong'
    case 'get_public_key':
      return pk
    case 'sign_event': {
      const t = JSON.parse(params[0])
      return JSON.stringify(
        finalizeEvent({ kind: t.kind, created_at: t.created_at, tags: t.tags ?? [], content: t.content ?? '' }, sk),
      )
    }
    case 'nip44_encrypt':
      return nip44.encrypt(params[1], conv(params[0]))
    case 'nip44_decrypt':
      return nip44.decrypt(params[1], conv(params[0]))
    case 'nip04_encrypt':
      return nip04.encrypt(sk, params[0], params[1])
    case 'nip04_decrypt':
      return nip04.decrypt(sk, params[0], params[1])
    default:
      throw new Error(`unsupported method ${method}`)
  }
}

const relay = await Relay.connect(url)
relay.onclose = () => {
  console.error('relay connection closed')
  process.exit(1)
}

function handle(ev) {
  const client = ev.pubkey
  let body
  let nip04Request = false
  try {
    if (ev.content.includes('?iv=')) {
      nip04Request = true
      body = JSON.parse(nip04.decrypt(sk, client, ev.content))
    } else {
      body = JSON.parse(nip44.decrypt(ev.content, conv(client)))
    }
  } catch (e) {
    console.error(`unreadable request from ${client}: ${e}`)
    return
  }
  let reply
  try {
    reply = { id: body.id, result: answer(body.method, body.params ?? []) }
  } catch (e) {
    reply = { id: body.id, result: '', error: String(e?.message ?? e) }
  }
  const text = JSON.stringify(reply)
  const content = nip04Request ? nip04.encrypt(sk, client, text) : nip44.encrypt(text, conv(client))
  const out = finalizeEvent(
    { kind: 24133, created_at: Math.floor(Date.now() / 1000), tags: [['p', client]], content },
    sk,
  )
  relay.publish(out).catch((e) => console.error(`publish: ${e}`))
}

relay.subscribe([{ kinds: [24133], '#p': [pk], since: Math.floor(Date.now() / 1000) - 10 }], {
  onevent: handle,
  oneose: () => {
    process.stdout.write(`bunker://${pk}?relay=${encodeURIComponent(url)}\n`)
  },
})
