// An independent NIP-46 client (nostr-tools) for the auth_url flow, driven by
// tests/net/bunker/approval.rs: it connects to a bunker:// URI, asks for a kind-1 note
// to be signed, and when the bunker answers auth_url (the operator must approve),
// prints the URL its onauth callback got; once approved it prints the signed event.
//
//   node --experimental-websocket authurl-client.mjs BUNKER_URI
//
// stdout, one JSON object a line: {"connected": true}, {"auth_url": …}, then
// {"event": …} or {"error": …} (the bunker's error reply). Any other failure: a message
// on stderr and exit 1 (2 after 60 s).
import { generateSecretKey } from 'nostr-tools/pure'
import { BunkerSigner, parseBunkerInput } from 'nostr-tools/nip46'

const uri = process.argv[2]
if (!uri) {
  console.error('usage: authurl-client.mjs BUNKER_URI')
  process.exit(1)
}
setTimeout(() => {
  console.error('timed out after 60 s')
  process.exit(2)
}, 60_000).unref()

const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

try {
  const bp = await parseBunkerInput(uri)
  if (!bp) throw new Error(`not a bunker URI: ${uri}`)
  const signer = BunkerSigner.fromBunker(generateSecretKey(), bp, {
    onauth: (url) => say({ auth_url: url }),
  })
  await signer.connect()
  say({ connected: true })
  try {
    const event = await signer.signEvent({
      kind: 1,
      created_at: Math.floor(Date.now() / 1000),
      tags: [['t', 'approval']],
      content: 'approved by a human, signed by a bunker nobody holds',
    })
    say({ event })
  } catch (e) {
    say({ error: String(e?.message ?? e) })
  }
  await signer.close()
  process.exit(0)
} catch (e) {
  console.error(`nostr-tools client: ${e?.stack ?? e}`)
  process.exit(1)
}
