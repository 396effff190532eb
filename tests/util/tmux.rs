//! A private tmux server for tests that need a real terminal (prompts, typed
//! confirmations, what a screen really shows).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Numbers each server of this process: the tests of several files share one test
/// binary (one pid), so the pid and a test's name alone could name two servers alike.
static SERVERS: AtomicUsize = AtomicUsize::new(0);

/// A private tmux server (its own socket) running one command in a wide pane; the
/// server is killed when this is dropped, even after a failed assertion.
pub struct Tmux {
    socket: String,
}

fn tmux(socket: &str) -> Command {
    let mut c = Command::new("tmux");
    c.args(["-u", "-L", socket, "-f", "/dev/null"])
        .env_remove("TMUX")
        .env("LANG", "C.UTF-8");
    c
}

impl Tmux {
    pub fn start(name: &str, shell_cmd: &str) -> Tmux {
        let n = SERVERS.fetch_add(1, Ordering::Relaxed);
        let socket = format!("passport-tmux-{}-{n}-{name}", std::process::id());
        let status = tmux(&socket)
            .args(["new-session", "-d", "-x", "200", "-y", "50", shell_cmd])
            .status()
            .expect("tmux runs (Debian package `tmux`; scripts/test.sh installs it)");
        assert!(status.success(), "tmux new-session failed");
        Tmux { socket }
    }

    /// What the pane shows now, wrapped rows joined back.
    pub fn capture(&self) -> String {
        let out = tmux(&self.socket)
            .args(["capture-pane", "-p", "-J"])
            .output()
            .unwrap();
        assert!(out.status.success(), "tmux capture-pane failed");
        String::from_utf8(out.stdout).expect("the pane is UTF-8")
    }

    /// Polls the pane until it shows `needle` (60 s at most).
    pub fn wait_for(&self, needle: &str, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.capture();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited 60 s for {what} ({needle:?}); the pane shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn send(&self, keys: &str) {
        let ok = tmux(&self.socket)
            .args(["send-keys", keys])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux send-keys failed");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = tmux(&self.socket).arg("kill-server").status();
    }
}

/// `p` quoted for `sh -c`.
pub fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}
