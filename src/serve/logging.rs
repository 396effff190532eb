//! serve's and the bunker's log: `tracing` events on stderr, as the lines they always
//! were (text) or as JSON objects with their fields (`--log-format json`). Only this
//! crate's events are shown (the relay client's own are not). Events carry no package
//! content, secrets or request bodies.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// How log events are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One line per event: its message (what serve always printed).
    #[default]
    Text,
    /// One JSON object per line: time, level, target, message and fields.
    Json,
}

/// Sends this crate's events to stderr in `format`, for the rest of the process. A
/// second call (a subscriber is already set) changes nothing.
pub fn init(format: LogFormat) {
    let only_ours = Targets::new().with_target(env!("CARGO_CRATE_NAME"), Level::INFO);
    let layer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .event_format(Message)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(only_ours))
        .try_init();
}

/// The text format: the event's message alone.
struct Message;

impl<S, N> FormatEvent<S, N> for Message
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut text = MessageOf(String::new());
        event.record(&mut text);
        writeln!(writer, "{}", text.0)
    }
}

struct MessageOf(String);

impl Visit for MessageOf {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_owned();
        }
    }
}
