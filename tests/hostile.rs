//! Hostile provider content, end to end: the real console in tmux against the demo's
//! emulator, whose faults put escape sequences (OSC 0 title, OSC 52 clipboard, CSI, C1),
//! bidi and zero-width characters and a 10,000-character value into each provider's
//! answers, or answer with truncated JSON, the wrong content type, or an id with spaces
//! and slashes. Nothing may reach the terminal as an escape: the pane title and tmux's
//! buffers stay untouched, the pane shows a clear message, and the queue still works.

mod common;

use common::cli::{BIN, isolated_env, reqwest};
use common::tmux::{Tmux, queue_rows};
use serde_json::json;

type R = Result<(), Box<dyn std::error::Error>>;

/// JSON-escaped, so the answer stays valid JSON and the hostile bytes reach the adapter.
fn hostile_json_text() -> String {
    let mut s = String::from(
        "\\u001b]0;PWNED-TITLE\\u0007\\u001b]52;c;UFdORUQ=\\u0007\\u001b[2J\\u001b[31m\\u009b1;1H\\u0085\\u202eevil\\u2066\\u200b\\u200d\\ufeff",
    );
    s.push_str(&"W".repeat(10_000));
    s
}

fn fault(url: &str, fault: serde_json::Value) -> R {
    let status = reqwest::blocking_post_json(&format!("{url}/_emulator/faults"), fault)?;
    assert_eq!(status, 200);
    Ok(())
}

/// The first queue row of `provider` (display name) with a name-like word after its
/// id: (row index, case id, the word).
fn row_with_word(screen: &str, provider: &str, skip: usize) -> Option<(usize, String, String)> {
    queue_rows(screen).into_iter().enumerate().filter(|(_, (_, row))| row.starts_with(provider)).skip(skip).find_map(
        |(i, (id, row))| {
            let word = row.split_whitespace().nth(2)?.to_string();
            let namelike = word.chars().count() >= 4 && word.chars().all(char::is_alphabetic);
            namelike.then_some((i, id, word))
        },
    )
}

/// Opens the queue row at `index`, waits for its case or its failure; returns the screen.
fn open_row(tmux: &Tmux, index: usize, case: &str) -> Result<String, Box<dyn std::error::Error>> {
    tmux.keys(&["g"])?;
    for _ in 0..index {
        tmux.keys(&["j"])?;
    }
    tmux.keys(&["Enter"])?;
    tmux.wait_for(&format!("{case} opened"), |s| {
        s.contains(case) && (s.contains("Referred for:") || s.contains("could not be loaded"))
    })
}

fn back_to_queue(tmux: &Tmux) -> R {
    tmux.keys(&["Escape"])?;
    tmux.wait_for("the queue again", |s| s.contains("New referrals"))?;
    Ok(())
}

/// Nothing the provider sent was taken by the terminal as an instruction.
fn untouched(tmux: &Tmux, title: &str, screen: &str, what: &str) -> R {
    assert_eq!(tmux.pane_title(), title, "{what}: the pane title changed");
    assert_eq!(tmux.buffers(), "", "{what}: a clipboard write (OSC 52) reached tmux");
    assert!(
        screen.lines().next().is_some_and(|l| l.contains(" kycdesk ")),
        "{what}: the screen was redrawn over:\n{screen}"
    );
    assert!(!screen.contains('\u{1b}'), "{what}: a raw ESC on screen");
    Ok(())
}

/// The demo in tmux with images as `images` says, its emulator's address and the pane's
/// title.
fn start(dir: &std::path::Path, images: &str) -> Result<(Tmux, String, String), Box<dyn std::error::Error>> {
    let mut env = isolated_env(dir);
    env.push(("KYCDESK_IMAGES".into(), images.into()));
    let tmux = Tmux::start(dir, &env, &format!("exec {BIN} demo --cases 6"))?;
    // An OSC 52 would become a tmux buffer; a title escape would rename the pane.
    tmux.command(&["set-option", "-g", "set-clipboard", "on"])?;
    let screen = tmux.wait_for("the whole demo queue", |s| s.contains("30 new"))?;
    let url = screen
        .split("emulator at ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or("no emulator address on screen")?
        .to_string();
    let title = tmux.pane_title();
    Ok((tmux, url, title))
}

#[test]
fn broken_answers_from_every_provider_get_a_clear_message_and_the_queue_keeps_working() -> R {
    let dir = tempfile::tempdir()?;
    let (tmux, url, title) = start(dir.path(), "off")?;
    let screen = tmux.capture();
    // Each fault hits one case's detail path only, armed before any case is opened (and
    // prefetched), so the case shows exactly what the fault sends.
    let broken = [
        // Truncated JSON.
        ("ComplyCube", "complycube", json!({"body": "{\"id\": \"chk_trunc"})),
        // The wrong content type, with an escape inside.
        ("Sumsub", "sumsub", json!({"body": "<html>\u{1b}]0;PWNED\u{7}</html>", "content_type": "text/html"})),
        // Malformed JSON.
        ("IDWise", "idwise", json!({"body": "[1, 2"})),
        // Invalid UTF-8 and C1 bytes.
        ("Credas", "credas", json!({"body_base64": "/+D/Af79gA=="})),
        // An answer naming ids with spaces and slashes.
        (
            "FrankieOne",
            "frankieone",
            json!({"body": "{\"workflowResult\": {\"workflowExecutionId\": \"a b/../c\"}, \"individual\": {\"entityId\": \"x y/z\"}}"}),
        ),
    ];
    let mut targets = vec![];
    for (name, provider, mut f) in broken {
        let (index, id, _) = row_with_word(&screen, name, 0).ok_or(format!("no {name} row:\n{screen}"))?;
        let id = id.trim_end_matches('…').to_string();
        // The path names the case's first id (Credas and FrankieOne: the entity).
        let first = id.split('/').next().unwrap_or_default().to_string();
        f["provider"] = json!(provider);
        f["count"] = json!(1000);
        f["path_contains"] = json!(first);
        fault(&url, f)?;
        targets.push((name, format!("{provider}:{first}"), index));
    }
    for (name, case, index) in targets {
        let shown = open_row(&tmux, index, &case)?;
        untouched(&tmux, &title, &shown, name)?;
        assert!(shown.contains("could not be loaded"), "{name}: no clear message:\n{shown}");
        back_to_queue(&tmux)?;
    }
    the_rest_still_works_and_quits(&tmux, &title)
}

#[test]
fn hostile_content_from_every_provider_is_shown_defused_and_the_queue_keeps_working() -> R {
    let dir = tempfile::tempdir()?;
    let (tmux, url, title) = start(dir.path(), "off")?;
    let hostile = hostile_json_text();

    // Escapes, bidi, zero-width and a 10,000-character value in each provider's answers,
    // where the applicant's name was.
    for (name, provider) in [
        ("ComplyCube", "complycube"),
        ("Credas", "credas"),
        ("IDWise", "idwise"),
        ("Sumsub", "sumsub"),
        ("FrankieOne", "frankieone"),
    ] {
        let screen = tmux.capture();
        let (index, id, word) =
            row_with_word(&screen, name, 0).ok_or(format!("no {name} row with a name:\n{screen}"))?;
        fault(&url, json!({"provider": provider, "count": 1000, "replace": [[word, hostile]]}))?;
        let case = format!("{provider}:{id}");
        let shown = open_row(&tmux, index, &case)?;
        untouched(&tmux, &title, &shown, name)?;
        assert!(shown.contains('\u{FFFD}'), "{name}: the hostile characters are not shown as replacements:\n{shown}");
        assert!(shown.contains("characters;"), "{name}: the 10,000-character value is not cut:\n{shown}");
        back_to_queue(&tmux)?;
    }

    the_rest_still_works_and_quits(&tmux, &title)
}

/// CRC-32 (IEEE), for PNG chunks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG that claims `width` x `height` pixels: what a decompression bomb says first.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    // A zlib stream of zeros would follow; the claim alone must be refused.
    let mut idat = b"IDAT".to_vec();
    idat.extend_from_slice(&[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]);
    png.extend_from_slice(&((idat.len() - 4) as u32).to_be_bytes());
    png.extend_from_slice(&idat);
    png.extend_from_slice(&crc32(&idat).to_be_bytes());
    png
}

#[test]
fn oversized_and_bomb_images_are_refused_in_their_pane_and_the_case_still_shows() -> R {
    use base64::Engine;
    let dir = tempfile::tempdir()?;
    let (tmux, url, title) = start(dir.path(), "halfblocks")?;
    let b64 = |png: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(png);
    // Sumsub sends image bytes: a bomb's header claiming 100,000 x 100,000 pixels.
    fault(
        &url,
        json!({"provider": "sumsub", "count": 1000, "path_contains": "/resources/inspections/",
            "body_base64": b64(png_claiming(100_000, 100_000)), "content_type": "image/png"}),
    )?;
    // ComplyCube wraps them in JSON: an image wider than any document scan.
    let wide = json!({"fileName": "x.png", "contentType": "image/png", "data": b64(png_claiming(60_000, 10))});
    fault(
        &url,
        json!({"provider": "complycube", "count": 1000, "path_contains": "/download", "body": wide.to_string()}),
    )?;
    // Cases with images: any Sumsub one, a ComplyCube document check.
    for (name, provider, kind) in [("Sumsub", "sumsub", ""), ("ComplyCube", "complycube", " document ")] {
        let screen = tmux.capture();
        let (index, id) = queue_rows(&screen)
            .into_iter()
            .enumerate()
            .find(|(_, (_, row))| row.starts_with(name) && row.contains(kind))
            .map(|(i, (id, _))| (i, id))
            .ok_or(format!("no {name} row:\n{screen}"))?;
        let case = format!("{provider}:{}", id.trim_end_matches('…'));
        open_row(&tmux, index, &case)?;
        let shown = tmux.wait_for(&format!("{name}: the image refused"), |s| s.contains("image not shown"))?;
        untouched(&tmux, &title, &shown, name)?;
        assert!(shown.contains("Referred for:"), "{name}: the case details went with the image:\n{shown}");
        back_to_queue(&tmux)?;
    }
    tmux.keys(&["q"])?;
    tmux.wait_until_gone()?;
    Ok(())
}

/// The rest of the queue works: the last case opens as usual, and the console quits.
fn the_rest_still_works_and_quits(tmux: &Tmux, title: &str) -> R {
    tmux.keys(&["G", "Enter"])?;
    let last = tmux.wait_for("the last case", |s| s.contains("Referred for:"))?;
    untouched(tmux, title, &last, "the last case")?;
    // Separate keys: Escape then q at once would read as Alt-q.
    back_to_queue(tmux)?;
    tmux.keys(&["q"])?;
    tmux.wait_until_gone()?;
    Ok(())
}
