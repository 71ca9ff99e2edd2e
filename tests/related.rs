//! Related cases in `update`, driven directly: a loaded case asks the store who else it
//! is about, the answer fills the state, and it goes with the case. The store work is
//! done in line by a real (keyed, in-memory) store, as the console's job does it.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kycdesk::app::{Action, Effect, State, update};
use kycdesk::domain::identity::{IdentityKey, IdentityKind, Standing};
use kycdesk::domain::{Applicant, Case, CaseRef, Document, Lane, ProviderId, QueueEntry, QueueStatus, SafeText};
use kycdesk::store::{AuditKey, SqliteStore, Store};

type R = Result<(), Box<dyn std::error::Error>>;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).single().unwrap_or_default()
}

fn entry(provider: ProviderId, key: &str, applicant: &str, minute: i64) -> QueueEntry {
    QueueEntry {
        case_ref: CaseRef::new(provider, key),
        applicant: SafeText::new(applicant),
        check_type: SafeText::new("identity"),
        why_referred: SafeText::new("liveness"),
        received_at: t0() - Duration::minutes(100 - minute),
        status: QueueStatus::Pending,
        lane: Lane::New,
        note: None,
    }
}

/// The same applicant at ComplyCube and Sumsub, written each provider's way, then
/// other people.
fn queue() -> Vec<QueueEntry> {
    vec![
        entry(ProviderId::ComplyCube, "cc1", "Jane Doe", 1),
        entry(ProviderId::Sumsub, "ss1", "DOE, Jane", 2),
        entry(ProviderId::ComplyCube, "cc2", "Sam Roe", 3),
        entry(ProviderId::ComplyCube, "cc3", "Ada Poe", 4),
        entry(ProviderId::ComplyCube, "cc4", "Ben Loe", 5),
        entry(ProviderId::ComplyCube, "cc5", "Cy Moe", 6),
    ]
}

fn case_of(e: &QueueEntry) -> Case {
    let (birth, number) = match e.case_ref.key.as_str() {
        "cc1" | "ss1" => ("1990-01-02".to_string(), "ab123456".to_string()),
        other => (format!("1971-04-0{}", other.len()), format!("P765432{other}")),
    };
    Case {
        case_ref: e.case_ref.clone(),
        check_type: e.check_type.clone(),
        status: SafeText::new("complete"),
        why_referred: e.why_referred.clone(),
        created_at: Some(e.received_at),
        applicant: Applicant {
            name: e.applicant.clone(),
            date_of_birth: kycdesk::domain::dates::DateValue::parse(&birth),
            ..Applicant::default()
        },
        documents: vec![Document {
            id: "doc".into(),
            doc_type: SafeText::new("passport"),
            country: Some(SafeText::new("GBR")),
            number: Some(SafeText::new(&number)),
            expiry: None,
            holder_name: None,
            date_of_birth: None,
            sides: vec![],
            fields: vec![],
        }],
        selfie: None,
        rules: vec![],
        face_match: None,
        screening: vec![],
        targets: vec![],
    }
}

fn state() -> State {
    let mut s = State::new(Default::default(), Default::default(), t0());
    update(&mut s, kycdesk::ui::resize(160, 48));
    update(&mut s, Action::QueueLoaded(Ok((queue(), Default::default()))));
    s
}

fn store() -> Result<SqliteStore, Box<dyn std::error::Error>> {
    let store = SqliteStore::open_in_memory()?.with_audit_key(AuditKey::new("k".repeat(40).into()))?;
    store.upsert_queue(&queue())?;
    Ok(store)
}

fn press(s: &mut State, code: KeyCode) -> Vec<Effect> {
    update(s, Action::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

/// Performs the effects a job would: cases from the synthetic queue, related cases from
/// the store. Returns the identity lookups asked for.
fn run(s: &mut State, store: &SqliteStore, mut effects: Vec<Effect>) -> Vec<CaseRef> {
    let mut related = vec![];
    while let Some(effect) = effects.pop() {
        let action = match effect {
            Effect::FetchCase(r) | Effect::Prefetch(r) => {
                let Some(e) = queue().into_iter().find(|e| e.case_ref == r) else { continue };
                Action::CaseLoaded(r, Ok(Box::new(case_of(&e))))
            }
            Effect::RelateCase { case_ref, keys } => {
                related.push(case_ref.clone());
                let found = store.record_identity(&case_ref, &keys).and_then(|()| store.related_cases(&case_ref));
                Action::RelatedLoaded(case_ref, found.map_err(|e| e.to_string()))
            }
            _ => continue,
        };
        effects.extend(update(s, action));
    }
    related
}

#[test]
fn a_loaded_case_records_its_keys_and_asks_for_its_related_cases() -> R {
    let mut s = state();
    let cc1 = CaseRef::new(ProviderId::ComplyCube, "cc1");
    let effects = press(&mut s, KeyCode::Enter);
    assert!(effects.contains(&Effect::FetchCase(cc1.clone())));
    let effects = update(&mut s, Action::CaseLoaded(cc1.clone(), Ok(Box::new(case_of(&queue()[0])))));
    let relate: Vec<&Effect> = effects.iter().filter(|e| matches!(e, Effect::RelateCase { .. })).collect();
    assert_eq!(
        relate,
        [&Effect::RelateCase {
            case_ref: cc1,
            keys: vec![
                IdentityKey::NameAndBirth("doe jane|19900102".into()),
                IdentityKey::Document("GBR|AB123456".into()),
            ],
        }]
    );
    Ok(())
}

#[test]
fn a_case_that_failed_to_load_asks_nothing_of_the_store() {
    let mut s = state();
    let cc1 = CaseRef::new(ProviderId::ComplyCube, "cc1");
    press(&mut s, KeyCode::Enter);
    let effects = update(&mut s, Action::CaseLoaded(cc1, Err("provider timed out".into())));
    assert!(!effects.iter().any(|e| matches!(e, Effect::RelateCase { .. })), "{effects:?}");
}

#[test]
fn the_same_person_at_another_provider_is_listed_with_the_case() -> R {
    let store = store()?;
    let mut s = state();
    // Opening the first case prefetches the next two: every one records its keys.
    let effects = press(&mut s, KeyCode::Enter);
    let asked = run(&mut s, &store, effects);
    assert_eq!(asked.len(), 3, "{asked:?}");
    // Loaded again (a reopen), cc1 finds ss1 whichever recorded first.
    let cc1 = CaseRef::new(ProviderId::ComplyCube, "cc1");
    let effects = update(&mut s, Action::CaseLoaded(cc1.clone(), Ok(Box::new(case_of(&queue()[0])))));
    run(&mut s, &store, effects);

    let related = s.related.get(&cc1).ok_or("cc1 has its related cases")?;
    assert_eq!(related.len(), 1, "{related:?}");
    assert_eq!(related[0].case_ref, CaseRef::new(ProviderId::Sumsub, "ss1"));
    assert_eq!(related[0].matched, vec![IdentityKind::NameAndBirth, IdentityKind::Document]);
    assert_eq!(related[0].applicant, Some(SafeText::new("DOE, Jane")));
    assert_eq!(related[0].standing, Standing::Queued(Lane::New));
    assert!(s.related.get(&CaseRef::new(ProviderId::ComplyCube, "cc2")).is_some_and(Vec::is_empty));
    Ok(())
}

#[test]
fn related_cases_go_with_their_case_and_late_answers_are_dropped() -> R {
    let store = store()?;
    let mut s = state();
    let effects = press(&mut s, KeyCode::Enter);
    run(&mut s, &store, effects);
    let cc1 = CaseRef::new(ProviderId::ComplyCube, "cc1");
    assert!(s.related.contains_key(&cc1));
    // Back to the queue and far down it: cc1 is no longer held, nor what it related to.
    press(&mut s, KeyCode::Esc);
    for _ in 0..4 {
        press(&mut s, KeyCode::Char('j'));
    }
    let effects = press(&mut s, KeyCode::Enter);
    run(&mut s, &store, effects);
    assert!(!s.cases.contains_key(&cc1), "cc1 is out of the window");
    assert!(!s.related.contains_key(&cc1), "dropped with its case");
    // An answer for a case let go meanwhile is not kept.
    update(&mut s, Action::RelatedLoaded(cc1.clone(), Ok(vec![])));
    assert!(!s.related.contains_key(&cc1));
    // A failed lookup says so and changes nothing else.
    let held = s.cases.keys().next().cloned().ok_or("a held case")?;
    let before = s.related.get(&held).cloned();
    update(&mut s, Action::RelatedLoaded(held.clone(), Err("store busy".into())));
    assert_eq!(s.related.get(&held).cloned(), before);
    assert!(s.notice.as_ref().is_some_and(|n| n.text.contains("related cases") && n.text.contains("store busy")));
    Ok(())
}

/// Intake read a case the console never loaded and found it related: the loaded cases
/// it names look their related cases up again; the others are left alone.
#[test]
fn intake_finding_the_same_person_refreshes_the_loaded_case() -> R {
    let store = store()?;
    let cc1 = CaseRef::new(ProviderId::ComplyCube, "cc1");
    let ss1 = CaseRef::new(ProviderId::Sumsub, "ss1");
    // This console's queue has not shown ss1 (the store has it), so nothing loads it.
    let mut s = State::new(Default::default(), Default::default(), t0());
    update(&mut s, kycdesk::ui::resize(160, 48));
    let shown = queue().into_iter().filter(|e| e.case_ref != ss1).collect();
    update(&mut s, Action::QueueLoaded(Ok((shown, Default::default()))));
    let effects = press(&mut s, KeyCode::Enter);
    run(&mut s, &store, effects);
    assert!(s.related.get(&cc1).is_some_and(Vec::is_empty), "nothing known of ss1 yet");

    // The identity reader records ss1 (never loaded here) and reports both sides.
    store.record_identity(&ss1, &kycdesk::domain::identity::identity_keys(&case_of(&queue()[1])))?;
    let effects = update(&mut s, Action::RelatedFound(vec![cc1.clone(), ss1.clone()]));
    assert_eq!(effects.len(), 1, "only the loaded case asks again: {effects:?}");
    run(&mut s, &store, effects);
    let related = s.related.get(&cc1).ok_or("cc1 has its related cases")?;
    assert_eq!(related.iter().map(|r| &r.case_ref).collect::<Vec<_>>(), [&ss1]);
    Ok(())
}

/// The identity reader against the emulator: a provider failing stops its round (to be
/// tried later) and reads nothing past it; a case that is gone is left out and the
/// others are read; each case is read once.
#[tokio::test]
async fn the_identity_reader_stops_for_a_failing_provider_and_skips_a_gone_case() -> R {
    use kycdesk::intake::identities::read_unread;
    use std::collections::HashSet;
    let emu = common::start_emulator(3).await?;
    let adapter: std::sync::Arc<dyn kycdesk::providers::Provider> = std::sync::Arc::new(common::sumsub(&emu)?);
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(SqliteStore::open_in_memory()?.with_audit_key(AuditKey::new("k".repeat(40).into()))?);
    let gone = entry(ProviderId::Sumsub, &"0".repeat(24), "Nobody", 0);
    let mut queued = vec![gone.clone()];
    for (i, id) in common::sumsub_applicants(&emu).await?.iter().enumerate() {
        queued.push(entry(ProviderId::Sumsub, id, "Applicant", 10 + i as i64));
    }
    store.upsert_queue(&queued)?;

    let fault = serde_json::json!({"provider": "sumsub", "status": 500, "count": 1});
    let armed = reqwest::Client::new().post(format!("{}/_emulator/faults", emu.base_url())).json(&fault).send().await?;
    assert!(armed.status().is_success());
    let failing = read_unread(&store, &adapter, 10, &HashSet::new()).await?;
    assert!(failing.provider_failed.is_some(), "{failing:?}");
    assert_eq!(failing.read, 0, "nothing read past a failing provider: {failing:?}");

    let reading = read_unread(&store, &adapter, 10, &HashSet::new()).await?;
    assert_eq!(reading.provider_failed, None, "{reading:?}");
    assert_eq!(reading.unreadable, vec![gone.case_ref.clone()]);
    assert_eq!(reading.read, queued.len() - 1);
    let skip: HashSet<CaseRef> = reading.unreadable.into_iter().collect();
    let again = read_unread(&store, &adapter, 10, &skip).await?;
    assert_eq!((again.read, again.unreadable.len()), (0, 0), "each case is read once: {again:?}");
    Ok(())
}
