//! The live view's terminal: the alternate screen, redrawn in place, and the
//! keyboard in cbreak mode so that `q` quits without Enter.
//!
//! Plain ANSI rather than a TUI crate (ratatui + crossterm): the view is a page of
//! aligned text, the same text `--once` prints into a pipe, so drawing it is
//! "cursor home, each line, clear to the end of the line, clear below". A TUI's
//! widgets and cell diffing would give a second renderer to keep in step with
//! the plain one, and some fifteen crates to build, for no gain here. The few
//! terminal calls (termios, window size) are rustix's safe functions.
//!
//! Cbreak mode turns off line buffering and echo only: `ISIG` stays, so Ctrl-C
//! is still SIGINT (and ends `top` through its handler), and output processing
//! stays, so `\n` still moves to the start of the next line.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;

use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};
use tokio::sync::mpsc;

/// Switches to the alternate screen (the shell's screen comes back at the
/// end), hides the cursor, clears.
pub const ENTER: &str = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";

/// Shows the cursor and leaves the alternate screen.
pub const LEAVE: &str = "\x1b[?25h\x1b[?1049l";

/// Cursor to the top left corner: each frame starts here.
const HOME: &str = "\x1b[H";

/// Clears from the cursor to the end of its line.
const CLEAR_LINE: &str = "\x1b[K";

/// Clears from the cursor to the end of the screen.
const CLEAR_BELOW: &str = "\x1b[J";

/// The terminal while the live view is up; restores it when dropped, on every
/// way out (the end, `q`, Ctrl-C, an error).
pub struct Live<'a> {
    out: &'a mut dyn Write,
    /// stdin's settings before cbreak mode, to put back.
    saved: Option<Termios>,
}

impl<'a> Live<'a> {
    /// Takes over the screen (and the keyboard, when stdin is a terminal).
    ///
    /// # Errors
    ///
    /// The screen cannot be written.
    pub fn enter(out: &'a mut dyn Write) -> std::io::Result<Self> {
        let saved = cbreak();
        let live = Self { out, saved };
        live.out.write_all(ENTER.as_bytes())?;
        live.out.flush()?;
        Ok(live)
    }

    /// Whether `q` can be read from stdin without Enter.
    pub fn reads_keys(&self) -> bool {
        self.saved.is_some()
    }

    /// Rows and columns of the terminal, if it says.
    pub fn size() -> Option<(usize, usize)> {
        let size = termios::tcgetwinsize(std::io::stdout().as_fd()).ok()?;
        (size.ws_row > 0 && size.ws_col > 0)
            .then(|| (usize::from(size.ws_row), usize::from(size.ws_col)))
    }

    /// Draws `text` over the previous frame: each line cut to `columns`, at
    /// most `rows` lines.
    ///
    /// # Errors
    ///
    /// The screen cannot be written.
    pub fn draw(&mut self, text: &str, rows: usize, columns: usize) -> std::io::Result<()> {
        let mut frame = String::with_capacity(text.len() + 256);
        frame.push_str(HOME);
        for (n, line) in text.lines().take(rows).enumerate() {
            if n > 0 {
                frame.push('\n');
            }
            frame.extend(line.chars().take(columns));
            frame.push_str(CLEAR_LINE);
        }
        frame.push_str(CLEAR_BELOW);
        self.out.write_all(frame.as_bytes())?;
        self.out.flush()
    }
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        // Best effort: there is no one to tell if the terminal has gone.
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, saved);
        }
        let _ = self.out.write_all(LEAVE.as_bytes());
        let _ = self.out.flush();
    }
}

/// Puts stdin in cbreak mode if it is a terminal; returns the settings to
/// restore.
fn cbreak() -> Option<Termios> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return None;
    }
    let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
    let mut settings = saved.clone();
    settings.local_modes -= LocalModes::ICANON | LocalModes::ECHO;
    // A read returns each key as it is typed.
    settings.special_codes[SpecialCodeIndex::VMIN] = 1;
    settings.special_codes[SpecialCodeIndex::VTIME] = 0;
    termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &settings).ok()?;
    Some(saved)
}

/// The keys typed on stdin, read by a thread of their own.
///
/// A thread, not tokio's stdin: tokio reads stdin on its blocking pool, and a
/// runtime waits for its blocking tasks when it is dropped, so a read waiting
/// for a key would keep msrpctl from exiting. This thread is still blocked in
/// its read when `top` ends, and ends with the process.
pub fn keys() -> mpsc::UnboundedReceiver<u8> {
    let (tx, rx) = mpsc::unbounded_channel();
    // Detached. Without the thread, the receiver reports closed at once and
    // Ctrl-C still works.
    let _ = std::thread::Builder::new()
        .name("top-keys".into())
        .spawn(move || {
            let mut stdin = std::io::stdin();
            let mut key = [0u8; 1];
            while let Ok(1) = stdin.read(&mut key) {
                if tx.send(key[0]).is_err() {
                    break;
                }
            }
        });
    rx
}
