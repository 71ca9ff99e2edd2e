//! The outbox against a model of it: any interleaving of senders (claims with a live or
//! a run-out lease, calls started and answered, deliveries, retries of known and unknown
//! outcome, refusals) and analysts (undo) gives the store's answers the model predicts.
//! In particular: one holder at a time, a stale holder records nothing, an answered call
//! is never in flight again, and a call whose answer never came is reported to the next
//! holder until it is settled.

use chrono::Utc;
use kycdesk::domain::{CallRecord, CaseRef, Decision, ProviderId, TargetId, Verdict};
use kycdesk::store::{Evidence, OutboxState, SentOutcome, SqliteStore, Store, StoreError};
use proptest::prelude::*;
use std::time::Duration;

const DECISIONS: usize = 3;
const OWNERS: [&str; 3] = ["console", "send-1", "send-2"];
const STEPS: [&str; 3] = ["m1", "m2", "m3"];
/// A lease that outlives the test, or one already run out (its holder died).
const LIVE: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug)]
enum Op {
    Claim { d: usize, owner: usize, dies: bool },
    Renew { d: usize, owner: usize },
    Start { d: usize, owner: usize, step: usize },
    Done { d: usize, owner: usize, step: usize },
    Sent { d: usize, owner: usize },
    Retry { d: usize, owner: usize, unknown: bool },
    Fail { d: usize, owner: usize },
    Withdraw { d: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let d = 0..DECISIONS;
    let o = 0..OWNERS.len();
    let s = 0..STEPS.len();
    prop_oneof![
        3 => (d.clone(), o.clone(), any::<bool>()).prop_map(|(d, owner, dies)| Op::Claim { d, owner, dies }),
        1 => (d.clone(), o.clone()).prop_map(|(d, owner)| Op::Renew { d, owner }),
        3 => (d.clone(), o.clone(), s.clone()).prop_map(|(d, owner, step)| Op::Start { d, owner, step }),
        3 => (d.clone(), o.clone(), s).prop_map(|(d, owner, step)| Op::Done { d, owner, step }),
        1 => (d.clone(), o.clone()).prop_map(|(d, owner)| Op::Sent { d, owner }),
        1 => (d.clone(), o.clone(), any::<bool>()).prop_map(|(d, owner, unknown)| Op::Retry { d, owner, unknown }),
        1 => (d.clone(), o).prop_map(|(d, owner)| Op::Fail { d, owner }),
        1 => d.prop_map(|d| Op::Withdraw { d }),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    InFlight,
    Answered,
}

#[derive(Clone, Debug)]
struct Model {
    state: OutboxState,
    owner: Option<usize>,
    lease_live: bool,
    attempts: u32,
    /// Steps in the order first started.
    calls: Vec<(usize, Call)>,
}

impl Model {
    fn new() -> Self {
        Self { state: OutboxState::Saved, owner: None, lease_live: false, attempts: 0, calls: vec![] }
    }
    fn held_by(&self, owner: usize) -> bool {
        self.state == OutboxState::Sending && self.owner == Some(owner)
    }
    fn in_flight(&self) -> bool {
        self.calls.iter().any(|(_, c)| *c == Call::InFlight)
    }
    fn forget_in_flight(&mut self) {
        self.calls.retain(|(_, c)| *c == Call::Answered);
    }
    fn answered(&self) -> Vec<String> {
        self.calls.iter().filter(|(_, c)| *c == Call::Answered).map(|(s, _)| STEPS[*s].to_string()).collect()
    }
}

fn decision(n: usize) -> Decision {
    Decision {
        id: format!("d{n}"),
        case_ref: CaseRef::new(ProviderId::ComplyCube, format!("chk{n}")),
        target: TargetId::Case,
        verdict: Verdict::Verify,
        reason: "Model test.".into(),
        reason_codes: vec![],
        analyst: "ana".into(),
        created_at: Utc::now() - chrono::Duration::seconds(5),
    }
}

fn record(step: usize) -> CallRecord {
    CallRecord { method: "POST".into(), path: format!("/{}", STEPS[step]), status: 200, answer: "{}".into() }
}

/// The finishing writes: done by the holder, `LeaseLost` while another holds it or its
/// lease ran out unclaimed, `WrongState` otherwise.
fn finish_expected(m: &Model, owner: usize) -> Result<(), &'static str> {
    if m.held_by(owner) {
        Ok(())
    } else if m.state == OutboxState::Sending {
        Err("lease lost")
    } else {
        Err("wrong state")
    }
}

fn finish_actual(r: Result<(), StoreError>) -> Result<(), &'static str> {
    match r {
        Ok(()) => Ok(()),
        Err(StoreError::LeaseLost(_)) => Err("lease lost"),
        Err(StoreError::WrongState { .. }) => Err("wrong state"),
        Err(_) => Err("another error"),
    }
}

fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let store = SqliteStore::open_in_memory().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut models: Vec<Model> = (0..DECISIONS).map(|_| Model::new()).collect();
    for n in 0..DECISIONS {
        store.save_decision(&decision(n), &Evidence::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    for op in ops {
        match op {
            Op::Claim { d, owner, dies } => {
                let m = &mut models[d];
                let claimable = match m.state {
                    OutboxState::Saved => true,
                    OutboxState::Sending => !m.lease_live,
                    _ => false,
                };
                let lease = if dies { Duration::ZERO } else { LIVE };
                let got = store.claim(&format!("d{d}"), OWNERS[owner], lease, true);
                let got = got.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(got.is_some(), claimable, "claim {:?} of {:?}", op, m);
                if let Some(claim) = got {
                    prop_assert_eq!(claim.in_flight, m.in_flight());
                    let done: Vec<String> = claim.done.into_iter().map(|(s, _)| s).collect();
                    prop_assert_eq!(done, m.answered());
                    m.state = OutboxState::Sending;
                    m.owner = Some(owner);
                    m.lease_live = !dies;
                    m.attempts += 1;
                }
            }
            Op::Renew { d, owner } => {
                let m = &mut models[d];
                let held = store.renew_lease(&format!("d{d}"), OWNERS[owner], LIVE);
                prop_assert_eq!(held.map_err(|e| TestCaseError::fail(e.to_string()))?, m.held_by(owner));
                if m.held_by(owner) {
                    m.lease_live = true;
                }
            }
            Op::Start { d, owner, step } => {
                let m = &mut models[d];
                let ok = store.call_started(&format!("d{d}"), OWNERS[owner], STEPS[step], LIVE);
                prop_assert_eq!(ok.map_err(|e| TestCaseError::fail(e.to_string()))?, m.held_by(owner));
                if m.held_by(owner) {
                    m.lease_live = true;
                    m.forget_in_flight();
                    if !m.calls.iter().any(|(s, _)| *s == step) {
                        m.calls.push((step, Call::InFlight));
                    }
                }
            }
            Op::Done { d, owner, step } => {
                let m = &mut models[d];
                let got = store.call_done(&format!("d{d}"), OWNERS[owner], STEPS[step], &record(step));
                let in_flight = m.calls.iter().any(|(s, c)| *s == step && *c == Call::InFlight);
                match (m.held_by(owner), in_flight) {
                    (false, _) => prop_assert!(matches!(got, Ok(false)), "{:?}: {:?}", op, got),
                    (true, true) => {
                        prop_assert!(matches!(got, Ok(true)), "{:?}: {:?}", op, got);
                        for (s, c) in &mut m.calls {
                            if *s == step {
                                *c = Call::Answered;
                            }
                        }
                    }
                    // An answer to a call that is not in flight is refused, never
                    // recorded twice.
                    (true, false) => prop_assert!(got.is_err(), "{:?}: {:?}", op, got),
                }
            }
            Op::Sent { d, owner } => {
                let m = &mut models[d];
                let got = store.mark_sent(&format!("d{d}"), OWNERS[owner], SentOutcome::default());
                let expected = finish_expected(m, owner);
                prop_assert_eq!(finish_actual(got), expected);
                if expected.is_ok() {
                    m.state = OutboxState::Sent;
                    m.forget_in_flight();
                }
            }
            Op::Retry { d, owner, unknown } => {
                let m = &mut models[d];
                // Due at once: the hold after an unknown outcome is already over.
                let got = store.mark_retry(&format!("d{d}"), OWNERS[owner], "timed out", Utc::now(), unknown);
                let expected = finish_expected(m, owner);
                prop_assert_eq!(finish_actual(got), expected);
                if expected.is_ok() {
                    m.state = OutboxState::Saved;
                    m.owner = None;
                    if !unknown {
                        m.forget_in_flight();
                    }
                }
            }
            Op::Fail { d, owner } => {
                let m = &mut models[d];
                let got = store.mark_failed(&format!("d{d}"), OWNERS[owner], "refused");
                let expected = finish_expected(m, owner);
                prop_assert_eq!(finish_actual(got), expected);
                if expected.is_ok() {
                    m.state = OutboxState::Failed;
                    m.owner = None;
                    m.forget_in_flight();
                }
            }
            Op::Withdraw { d } => {
                let m = &mut models[d];
                let got = store.withdraw(&[format!("d{d}")], "ana");
                let allowed = m.state == OutboxState::Saved && m.attempts == 0;
                prop_assert_eq!(got.is_ok(), allowed, "{:?}: {:?}", op, got);
                if allowed {
                    m.state = OutboxState::Withdrawn;
                }
            }
        }
    }
    for (n, m) in models.iter().enumerate() {
        let row = store.outbox_row(&format!("d{n}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let row = row.ok_or_else(|| TestCaseError::fail("row gone"))?;
        prop_assert_eq!((row.state, row.attempts), (m.state, m.attempts), "decision d{}", n);
    }
    store.verify_audit().map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_outbox_behaves_like_its_model(ops in proptest::collection::vec(op(), 1..60)) {
        check(ops)?;
    }
}
