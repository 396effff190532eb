//! `passport cosign --via URL`: the co-signer agent (see [`crate::ops::cosign`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use nostr::PublicKey;

use super::{prompt, Cli, Output};
use crate::error::{Result, SignError};
use crate::ops::cosign::{self, Answered, Approver, EcdhSummary, Note, Options, Policy};
use crate::ops::sign::Summary;
use crate::transport::Endpoint;
use crate::untrusted;

#[derive(Debug, Args)]
#[command(after_long_help = "\
Keeps --pool single-use signing commitments published on serve or on the relays
(replenished after each request; a restart re-publishes the unused ones), waits, and
answers the bunker's requests that name this seat: a signing request gets a signature
share (the nonce is burnt first), an ECDH request gets s_i·P with a DLEQ proof, NIP-44
encrypted to the bunker. Requests the policy refuses get a refusal with the reason,
which the bunker passes to its client (or it asks another co-signer).

Over relays (--via ws[s]://…, comma-separated; the bunker's own --relay URLs) no HTTP
path to serve is needed: packages go to every relay and requests are read from all of
them. A relay that dies is named once and the others carry on; it is reconnected when it
comes back. Relays carry anyone's events, so --coordinator (the bunker's key) is then
required: only its requests are answered.

Logs one line per request on stderr; with --json, prints {\"ready\":…} once connected,
then one JSON object per request handled. Stops on SIGINT or SIGTERM.")]
pub struct CosignArgs {
    /// The `passport serve` running the bunker (http[s]://HOST[:PORT]), or relays the
    /// bunker listens on (ws[s]://…, comma-separated; needs --coordinator).
    #[arg(long, value_name = "URL", env = "PASSPORT_VIA")]
    via: String,
    /// Group npub.
    #[arg(long, value_name = "NPUB")]
    group: String,
    /// Which of this home's seats co-signs (when it holds several).
    #[arg(long, value_name = "NAME")]
    member: Option<String>,
    /// Unused commitments to keep published.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pool: usize,
    /// Event kinds this co-signer signs (comma-separated) [default: any].
    #[arg(long, value_delimiter = ',', value_name = "KIND,…")]
    kinds: Option<Vec<u16>>,
    /// Methods this co-signer serves (comma-separated: sign_event, nip44_encrypt,
    /// nip44_decrypt, nip04_encrypt, nip04_decrypt) [default: all].
    #[arg(long, value_delimiter = ',', value_name = "METHOD,…")]
    methods: Option<Vec<String>>,
    /// At most this many answered requests per minute [default: unlimited].
    #[arg(long, value_name = "N")]
    rate: Option<u32>,
    /// Ask before every answer, showing the event (or the ECDH peer and method).
    #[arg(long, conflicts_with = "yes")]
    interactive: bool,
    /// Answer without asking (policy flags still apply).
    #[arg(long)]
    yes: bool,
    /// Ask the operator at this terminal before answering these methods (comma-separated,
    /// as --methods); everything else is answered as with --yes. With no terminal, such
    /// a request is refused, and the bunker signs with other co-signers.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "METHOD,…",
        conflicts_with = "interactive"
    )]
    ask: Option<Vec<String>>,
    /// Ask the operator before signing events of these kinds (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "KIND,…",
        conflicts_with = "interactive"
    )]
    ask_kinds: Option<Vec<u16>>,
    /// Only answer requests signed by this coordinator: the bunker's transport key (npub
    /// or hex; the key in its bunker:// URI). Required over relays.
    #[arg(long, value_name = "NPUB")]
    coordinator: Option<String>,
    /// Stop after this many seconds [default: run until stopped].
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Stop after handling this many requests.
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// FOR TESTS ONLY: send wrong signature shares and ECDH points, to check that the
    /// bunker names a cheating co-signer.
    #[arg(long, hide = true)]
    corrupt_shares_for_testing: bool,
}

/// The terminal prompt for one signing request.
type Prompt = Box<dyn FnMut(&Summary) -> bool>;

/// Which requests the operator decides (all, with --interactive; those --ask and
/// --ask-kinds name; none, with --yes).
struct Ask {
    /// The terminal prompt; `None` without a terminal (then asking refuses).
    prompt: Option<Prompt>,
    /// Ask about everything.
    all: bool,
    methods: Vec<String>,
    kinds: Vec<u16>,
}

impl Ask {
    fn asks_sign(&self, kind: Option<u16>) -> bool {
        self.all
            || self.methods.iter().any(|m| m == "sign_event")
            || kind.is_some_and(|k| self.kinds.contains(&k))
    }

    /// No terminal to ask on: refused, said once per request on stderr.
    fn no_terminal(&self) -> bool {
        eprintln!(
            "passport cosign: this request needs the operator's approval (--ask) and there \
             is no terminal to ask on: refused"
        );
        false
    }
}

impl Approver for Ask {
    fn sign(&mut self, s: &Summary) -> bool {
        if !self.asks_sign(s.kind) {
            return true;
        }
        match self.prompt.as_mut() {
            Some(p) => p(s),
            None => self.no_terminal(),
        }
    }

    fn ecdh(&mut self, s: &EcdhSummary) -> bool {
        if !self.all && !self.methods.contains(&s.method) {
            return true;
        }
        if self.prompt.is_none() {
            return self.no_terminal();
        }
        use crate::untrusted::show;
        eprintln!("ECDH for group {} as {}:", show(&s.group), show(&s.member));
        eprintln!("  coordinator: {}", show(&s.coordinator));
        eprintln!("  method:      {}", show(&s.method));
        eprintln!("  peer:        {}", show(&s.peer));
        dialoguer::Confirm::new()
            .with_prompt("Allow?")
            .default(false)
            .interact()
            .unwrap_or(false)
    }
}

pub fn run(cli: &Cli, a: &CosignArgs, out: &Output) -> Result<()> {
    let endpoint = Endpoint::parse(std::slice::from_ref(&a.via))?;
    if let Some(m) = &a.methods {
        if let Some(bad) = m.iter().find(|x| !cosign::METHODS.contains(&x.as_str())) {
            return Err(SignError::UnknownMethod {
                method: bad.clone(),
                known: &cosign::METHODS,
            }
            .into());
        }
    }
    let coordinator = match &a.coordinator {
        Some(c) => Some(
            PublicKey::parse(c).map_err(|source| SignError::BadCoordinator {
                given: c.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let opts = Options {
        group: &a.group,
        member: a.member.as_deref(),
        pool: a.pool,
        policy: Policy {
            coordinator,
            kinds: a.kinds.clone(),
            methods: a.methods.clone(),
            rate_per_min: a.rate,
        },
        timeout: a.timeout.map(Duration::from_secs),
        max_requests: a.max_requests,
        corrupt_for_testing: a.corrupt_shares_for_testing,
    };
    let asking = a.ask.is_some() || a.ask_kinds.is_some();
    if let Some(bad) = a
        .ask
        .iter()
        .flatten()
        .find(|x| !cosign::METHODS.contains(&x.as_str()))
    {
        return Err(SignError::UnknownMethod {
            method: bad.clone(),
            known: &cosign::METHODS,
        }
        .into());
    }
    let mut ask = Ask {
        // Without --yes or --ask, a terminal is required up front (every request asks).
        prompt: match a.yes || asking {
            false => Some(Box::new(prompt::consent(false)?)),
            true => prompt::consent(false).ok().map(|p| Box::new(p) as Prompt),
        },
        all: !a.yes && !asking,
        methods: a.ask.clone().unwrap_or_default(),
        kinds: a.ask_kinds.clone().unwrap_or_default(),
    };
    let stop = watch_signals()?;
    let home = cli.open_home()?;
    let json = out.json;
    let mut note = |n: Note<'_>| match n {
        Note::Ready {
            member,
            commitments,
        } => {
            eprintln!(
                "passport cosign: {} is co-signing via {} with {commitments} commitment(s) published",
                untrusted::show(member),
                untrusted::show(&endpoint.describe())
            );
            if json {
                out.line(&serde_json::json!({
                    "ready": true,
                    "member": member,
                    "commitments": commitments,
                }));
            }
        }
        Note::Answered(ans) => {
            eprintln!("passport cosign: {}", untrusted::one_line(&describe(ans)));
            if json {
                out.line(&serde_json::to_value(ans).unwrap_or_default());
            }
        }
        Note::Problem(p) => eprintln!("passport cosign: {}", untrusted::one_line(p)),
    };
    let done = cosign::run(&home, &endpoint, &opts, &mut ask, &stop, &mut note)?;
    out.report(&done)
}

fn describe(a: &Answered) -> String {
    let what = match a.kind {
        Some(k) => format!("{} (kind {k})", a.method),
        None => a.method.clone(),
    };
    let req = a.request.get(..12).unwrap_or(&a.request);
    match &a.reason {
        None => format!(
            "{} answered {what} request {req} from {}",
            a.member, a.coordinator
        ),
        Some(r) => format!(
            "{} refused {what} request {req} from {}: {r}",
            a.member, a.coordinator
        ),
    }
}

/// A flag that SIGINT or SIGTERM sets; the agent stops at its next check (a few seconds
/// at most).
fn watch_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SignError::SignalWatcher)?;
        let (mut term, mut int) = rt
            .block_on(async {
                Ok::<_, std::io::Error>((
                    signal(SignalKind::terminate())?,
                    signal(SignalKind::interrupt())?,
                ))
            })
            .map_err(SignError::WatchSignals)?;
        let flag = Arc::clone(&stop);
        std::thread::spawn(move || {
            rt.block_on(async {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            });
            flag.store(true, Ordering::SeqCst);
        });
    }
    Ok(stop)
}
