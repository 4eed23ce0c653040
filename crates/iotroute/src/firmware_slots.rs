//! The terminal's two firmware slots and the launcher above them (SEC-10), as RAUC and
//! Mender do on real devices: an activated image is installed in the slot that is not
//! running, the terminal hands over to the launcher, which starts the new slot's program
//! and gives it [`CONFIRM_WITHIN_S`] seconds to confirm itself (its self-check: store,
//! logs, settings and sockets opened); if it exits or stays silent, the launcher stops it,
//! records the failure and runs the previous program itself — within 120 s of the
//! activation.
//!
//! ```text
//! DIR/firmware/state.json          nodes::terminal::firmware::SlotState
//! DIR/firmware/a/terminal          slot A's program (the payload), 0755
//! DIR/firmware/a/manifest.json     its manifest
//! DIR/firmware/b/...               slot B
//! DIR/firmware/incoming.image      the image being transferred (crate::image_file)
//! ```
//!
//! The launcher is whatever program `iotroute terminal` starts as (the installed,
//! factory one at boot; the previous slot's on a handover): it reads the state first and
//! runs here (no image, or it *is* the slot: [`SLOT_ENV`]), execs the confirmed slot's
//! program, or watches a slot on trial. Decisions are `SlotState::launch` (sans-IO);
//! this file is files, processes and signals.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use nodes::terminal::firmware::{
    self, FirmwareError, Launch, Manifest, Packed, Slot, SlotState, CONFIRM_WITHIN_S,
};

use crate::state_file::{write_atomic, write_atomic_with, Access};

/// Set by the launcher for a slot's program: which slot it is.
pub const SLOT_ENV: &str = "IOTROUTE_FIRMWARE_SLOT";
/// Set by the launcher for a slot on trial: it must confirm itself, and it dies with the
/// launcher (so that no orphan holds the terminal's sockets).
const TRIAL_ENV: &str = "IOTROUTE_FIRMWARE_TRIAL";

/// A failure of the slots' files.
#[derive(Debug, thiserror::Error)]
pub enum SlotsError {
    /// A file could not be read or written.
    #[error("firmware slots: {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `state.json` is damaged.
    #[error("firmware slots: {path}: {why}")]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SlotsError + '_ {
    move |source| SlotsError::Io {
        path: path.to_owned(),
        source,
    }
}

fn state_path(data: &Path) -> PathBuf {
    data.join("firmware").join("state.json")
}

/// A slot's program.
fn program(data: &Path, slot: Slot) -> PathBuf {
    data.join("firmware").join(slot.name()).join("terminal")
}

/// The slots' state (none kept: the factory image runs).
///
/// # Errors
/// [`SlotsError`]: unreadable or damaged.
pub fn load(data: &Path) -> Result<SlotState, SlotsError> {
    let path = state_path(data);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| SlotsError::State {
            path,
            why: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SlotState::default()),
        Err(e) => Err(io(&path)(e)),
    }
}

fn save(data: &Path, state: &SlotState) -> Result<(), SlotsError> {
    let path = state_path(data);
    let dir = path.parent().unwrap_or(data);
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| SlotsError::State {
        path: path.clone(),
        why: e.to_string(),
    })?;
    write_atomic(&path, &bytes, Access::Default).map_err(io(&path))
}

/// Which slot this program is, once [`launch`] decided: the launcher said so, or it
/// rolled back to the confirmed slot and runs it here.
static ME: std::sync::OnceLock<Option<Slot>> = std::sync::OnceLock::new();

/// Which slot this program is, if any.
#[must_use]
pub fn me() -> Option<Slot> {
    *ME.get_or_init(told)
}

/// What the launcher told this program.
fn told() -> Option<Slot> {
    std::env::var(SLOT_ENV).ok().as_deref().and_then(Slot::of)
}

/// Install the program `payload` carries (an image the image transfer verified) in the
/// inactive slot and put it on trial: the program and its manifest written and synced before the state names
/// them, so a crash at any point leaves the previous state whole.
///
/// # Errors
/// [`SlotsError`].
pub fn install(
    data: &Path,
    manifest: &Manifest,
    payload: &Packed,
) -> Result<SlotState, SlotsError> {
    let state = load(data)?;
    let next = state.activate(manifest.version);
    let slot = state.inactive();
    let path = program(data, slot);
    let dir = path.parent().unwrap_or(data);
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    // Unpacked from the image store straight into the slot, a chunk at a time (SEC-10:
    // the image and the program are tens of MiB; neither is ever whole in memory).
    write_atomic_with(&path, Access::Default, |f| {
        firmware::unpack(manifest, &mut payload.reader(), &mut |chunk| {
            f.write_all(chunk)
                .map_err(|e| FirmwareError::Unpack(format!("slot: {e}")))
        })
        .map_err(std::io::Error::other)
    })
    .map_err(io(&path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(io(&path))?;
    }
    let m = dir.join("manifest.json");
    let text = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    write_atomic(&m, &text, Access::Default).map_err(io(&m))?;
    save(data, &next)?;
    Ok(next)
}

/// This program, started on trial, passed its self-check: its slot is the confirmed one.
/// Nothing when it is not on trial.
///
/// # Errors
/// [`SlotsError`].
pub fn confirm_if_on_trial(data: &Path) -> Result<Option<SlotState>, SlotsError> {
    let state = load(data)?;
    match (&state.trial, told()) {
        (Some(t), Some(s)) if t.slot == s && std::env::var_os(TRIAL_ENV).is_some() => {
            let confirmed = state.confirm();
            save(data, &confirmed)?;
            Ok(Some(confirmed))
        }
        _ => Ok(None),
    }
}

/// The running image: its version and slot (`None`: factory), for `status`.
#[must_use]
pub fn running(data: &Path) -> (u32, Option<Slot>) {
    let state = load(data).unwrap_or_default();
    let me = me();
    (state.running_version(me), me)
}

/// Hand over to the launcher: this program again, as the launcher (not as a slot), with
/// the same arguments. Returns only when the exec failed.
pub fn hand_over() -> std::io::Error {
    use std::os::unix::process::CommandExt as _;
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return e,
    };
    tracing::info!(program = %exe.display(), "handing over to the launcher");
    std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env_remove(SLOT_ENV)
        .env_remove(TRIAL_ENV)
        .exec()
}

/// The launcher's part of `iotroute terminal`, run first. `None`: run the terminal in
/// this process; `Some(code)`: the slot's program ran and ended with `code`.
pub async fn launch(data: &Path) -> Option<ExitCode> {
    if std::env::var_os(TRIAL_ENV).is_some() {
        // On trial: die with the launcher, so no orphan keeps the terminal's sockets.
        if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM) {
            tracing::warn!(error = %e, "parent-death signal not set");
        }
    }
    let state = match load(data) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "firmware state unreadable: running this program");
            return None;
        }
    };
    match state.launch(told()) {
        Launch::Here => {
            let _ = ME.set(told());
            None
        }
        Launch::Exec(slot) => {
            use std::os::unix::process::CommandExt as _;
            let path = program(data, slot);
            tracing::info!(
                slot = slot.name(),
                version = state.version,
                "starting the confirmed slot"
            );
            let e = std::process::Command::new(&path)
                .args(args())
                .env(SLOT_ENV, slot.name())
                .exec();
            tracing::error!(error = %e, program = %path.display(), "slot program not started: running this program");
            let _ = ME.set(None);
            None
        }
        Launch::Watch(slot) => {
            let ended = watch(data, slot).await;
            if ended.is_none() {
                // Rolled back: this program is the confirmed one's.
                let _ = ME.set(load(data).ok().and_then(|s| s.slot));
            }
            ended
        }
    }
}

fn args() -> Vec<OsString> {
    std::env::args_os().skip(1).collect()
}

/// Start `slot`'s program on trial; wait for its confirmation; then stay its parent
/// (forwarding SIGTERM and SIGINT) until it ends. Roll back when it exits or stays
/// silent first.
async fn watch(data: &Path, slot: Slot) -> Option<ExitCode> {
    let path = program(data, slot);
    tracing::info!(slot = slot.name(), "starting the slot on trial");
    let mut child = match tokio::process::Command::new(&path)
        .args(args())
        .env(SLOT_ENV, slot.name())
        .env(TRIAL_ENV, "1")
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            roll_back(data, &format!("not started: {e}"));
            return None;
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(CONFIRM_WITHIN_S);
    loop {
        tokio::select! {
            status = child.wait() => {
                let why = status.map_or_else(|e| e.to_string(), |s| format!("ended before confirming itself ({s})"));
                roll_back(data, &why);
                return None;
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        if load(data).is_ok_and(|s| s.trial.is_none() && s.slot == Some(slot)) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = child.kill().await;
            roll_back(
                data,
                &format!("no confirmation within {CONFIRM_WITHIN_S} s"),
            );
            return None;
        }
    }
    tracing::info!(slot = slot.name(), "slot confirmed itself");
    Some(supervise(child).await)
}

/// Stay the confirmed child's parent: pass SIGTERM and SIGINT on, end with its status.
async fn supervise(mut child: tokio::process::Child) -> ExitCode {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return exit_code(child.wait().await);
    };
    loop {
        let sig = tokio::select! {
            status = child.wait() => return exit_code(status),
            _ = term.recv() => nix::sys::signal::Signal::SIGTERM,
            _ = int.recv() => nix::sys::signal::Signal::SIGINT,
        };
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
            if let Err(e) = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
                tracing::warn!(error = %e, "signal not passed on");
            }
        }
    }
}

fn exit_code(status: std::io::Result<std::process::ExitStatus>) -> ExitCode {
    match status.ok().and_then(|s| s.code()) {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    }
}

/// Back to the previous program: the state and the event log say which image failed
/// and why.
fn roll_back(data: &Path, why: &str) {
    tracing::error!(
        reason = why,
        "the slot on trial failed: rolling back to the previous program"
    );
    let state = match load(data) {
        Ok(state) => state,
        Err(e) => {
            tracing::error!(error = %e, "rollback not recorded");
            return;
        }
    };
    let back = state.roll_back(why);
    if let Err(e) = save(data, &back) {
        tracing::error!(error = %e, "rollback not recorded");
    }
    let now = chrono::Utc::now();
    match crate::terminal_meter::open_log(data, "event", now) {
        Ok(mut log) => crate::terminal_meter::record(
            &mut log,
            now,
            "firmware_rolled_back",
            serde_json::json!({
                "failed_version": state.trial.as_ref().map(|t| t.version),
                "running_version": back.version,
                "reason": why,
            }),
        ),
        Err(e) => tracing::error!(error = %e, "rollback not written to the event log"),
    }
}
