// An independent NIP-46 client (nostr-tools), driven by tests/net/bunker.rs: it shows a
// nostrconnect:// URI made by createNostrConnectURI, waits for the bunker's connect
// reply, asks for a kind-1 note to be signed and prints the signed event.
//
//   node --experimental-websocket nostrconnect-client.mjs RELAY_URL
//
// stdout, one JSON object a line: {"uri": …} once the subscription for the reply is
// open (so the reply cannot come too early: kind 24133 is never stored), then
// {"event": …}. Any failure: a message on stderr and exit 1 (2 after 60 s).
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure'
import { SimplePool } from 'nostr-tools/pool'
import { BunkerSigner, createNostrConnectURI } from 'nostr-tools/nip46'

const relay = process.argv[2]
if (!relay) {
  console.error('usage: nostrconnect-client.mjs RELAY_URL')
  process.exit(1)
}
setTimeout(() => {
  console.error('timed out after 60 s')
  process.exit(2)
}, 60_000).unref()

const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const sk = generateSecretKey()
const uri = createNostrConnectURI({
  clientPubkey: getPublicKey(sk),
  relays: [relay],
  secret: Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex'),
  perms: ['sign_event:1', 'nip44_encrypt'],
  name: 'Tools & Co',
  url: 'https://example.org/app?x=1',
  image: 'https://example.org/icon.png',
})

// The pool announces the URI at the end of stored events of fromURI's subscription,
// the first one it opens.
let announced = false
class Pool extends SimplePool {
  subscribe(relays, filter, params) {
    return super.subscribe(relays, filter, {
      ...params,
      oneose: () => {
        params.oneose?.()
        if (!announced) {
          announced = true
          say({ uri })
        }
      },
    })
  }
}

try {
  const signer = await BunkerSigner.fromURI(sk, uri, { pool: new Pool() }, 30_000)
  const event = await signer.signEvent({
    kind: 1,
    created_at: Math.floor(Date.now() / 1000),
    tags: [],
    content: 'signed through nostr-tools by a bunker nobody holds',
  })
  say({ event })
  await signer.close()
  process.exit(0)
} catch (e) {
  console.error(`nostr-tools client: ${e?.stack ?? e}`)
  process.exit(1)
}
