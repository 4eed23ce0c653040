//! The run's two lanes: the districts the loop's thread runs, and those a second thread
//! runs beside it, window by window — the two cores of the machine the run was made
//! for. A district is handed to the other thread and back whole (it is moved, not
//! shared), and each runs the same whichever lane it is in: a run does not depend on
//! the threads.

use core::time::Duration;
use std::sync::mpsc;
use std::thread::JoinHandle;

use wisun::mac::Eui64;

use super::district::{District, Up};

/// A window's work for the other thread: its districts and the end of the window.
type Work = (Vec<District>, Duration);

/// The other thread's districts back, and whether each ran.
type Done = (Vec<District>, Result<(), String>);

/// The second thread, when the run has more than one district.
struct Beside {
    work: mpsc::Sender<Work>,
    done: mpsc::Receiver<Done>,
    thread: JoinHandle<()>,
}

pub(super) struct Lanes {
    /// The districts the loop's thread runs.
    here: Vec<District>,
    /// Those the second thread runs, between windows.
    there: Vec<District>,
    beside: Option<Beside>,
}

impl Lanes {
    /// `districts` (in their order), every other one on a second thread when there
    /// are two or more.
    ///
    /// # Errors
    /// The second thread could not be started.
    pub fn new(districts: Vec<District>) -> Result<Self, String> {
        let (mut here, mut there) = (Vec::new(), Vec::new());
        for (i, d) in districts.into_iter().enumerate() {
            if i % 2 == 0 { &mut here } else { &mut there }.push(d);
        }
        let beside = if there.is_empty() {
            None
        } else {
            let (work, inbox) = mpsc::channel::<Work>();
            let (outbox, done) = mpsc::channel::<Done>();
            let thread = std::thread::Builder::new()
                .name("districts".to_owned())
                .spawn(move || {
                    for (mut districts, until) in inbox {
                        let ran = run_until(&mut districts, until);
                        if outbox.send((districts, ran)).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| format!("the districts' thread: {e}"))?;
            Some(Beside { work, done, thread })
        };
        Ok(Self {
            here,
            there,
            beside,
        })
    }

    fn all(&self) -> impl Iterator<Item = &District> {
        self.here.iter().chain(&self.there)
    }

    fn all_mut(&mut self) -> impl Iterator<Item = &mut District> {
        self.here.iter_mut().chain(&mut self.there)
    }

    /// When the next of its districts has something to do.
    pub fn next_due(&self) -> Option<Duration> {
        self.all().filter_map(District::next_due).min()
    }

    /// Whether every fault planned for any district is past.
    pub fn plans_done(&self) -> bool {
        self.all().all(District::plans_done)
    }

    /// The head end's `bytes` for smart meter `sm` of district `number`, arriving at `at`
    /// (district `number` is the `number / 2`-th of its lane: they alternate, in order).
    pub fn arriving(&mut self, number: usize, at: Duration, sm: Eui64, bytes: Vec<u8>) {
        let lane = if number % 2 == 0 {
            &mut self.here
        } else {
            &mut self.there
        };
        if let Some(d) = lane.get_mut(number / 2).filter(|d| d.number() == number) {
            d.arriving(at, sm, bytes);
        }
    }

    /// Every district through everything due before `until`, both lanes at once.
    ///
    /// # Errors
    /// A node failed, or the second thread stopped.
    pub fn run_until(&mut self, until: Duration) -> Result<(), String> {
        let due = |d: &District| d.next_due().is_some_and(|t| t < until);
        let away = match &self.beside {
            Some(b) if self.there.iter().any(due) => {
                b.work
                    .send((std::mem::take(&mut self.there), until))
                    .map_err(|_| stopped())?;
                true
            }
            _ => false,
        };
        let here = run_until(&mut self.here, until);
        if away {
            let (there, ran) = self
                .beside
                .as_ref()
                .and_then(|b| b.done.recv().ok())
                .ok_or_else(stopped)?;
            self.there = there;
            ran?;
        }
        here
    }

    /// What each district's smart meters sent since it was last taken, by district
    /// number.
    pub fn take_outboxes(&mut self) -> Vec<(usize, Vec<(Duration, Up)>)> {
        self.all_mut()
            .map(|d| (d.number(), d.take_outbox()))
            .filter(|(_, o)| !o.is_empty())
            .collect()
    }

    /// The frames the districts sent since they were last taken: (time, district,
    /// record).
    pub fn take_frames(&mut self) -> Vec<(Duration, usize, Vec<u8>)> {
        self.all_mut()
            .flat_map(|d| {
                let number = d.number();
                d.take_frames()
                    .into_iter()
                    .map(move |(at, record)| (at, number, record))
            })
            .collect()
    }

    /// The districts back in their order, the second thread ended.
    ///
    /// # Errors
    /// The second thread panicked.
    pub fn into_districts(mut self) -> Result<Vec<District>, String> {
        if let Some(b) = self.beside.take() {
            drop(b.work);
            b.thread
                .join()
                .map_err(|_| "the districts' thread panicked".to_owned())?;
        }
        let mut all: Vec<District> = self.here.into_iter().chain(self.there).collect();
        all.sort_by_key(District::number);
        Ok(all)
    }
}

/// Each of `districts` with something due before `until`, through it.
fn run_until(districts: &mut [District], until: Duration) -> Result<(), String> {
    for d in districts {
        if d.next_due().is_some_and(|t| t < until) {
            d.run_until(until)?;
        }
    }
    Ok(())
}

fn stopped() -> String {
    "the districts' thread stopped".to_owned()
}
