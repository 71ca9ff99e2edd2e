//! Where things go on screen. `update` uses it too, to encode images for the pane they
//! will be drawn in, so it is pure and shared.

use ratatui::layout::{Constraint, Layout, Rect};

pub struct Frame3 {
    pub title: Rect,
    pub body: Rect,
    pub status: Rect,
}

pub fn frame(area: Rect) -> Frame3 {
    let [title, body, status] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1), Constraint::Length(1)]).areas(area);
    Frame3 { title, body, status }
}

pub struct CasePanes {
    pub details: Rect,
    pub document: Rect,
    pub selfie: Rect,
}

pub fn case_panes(body: Rect) -> CasePanes {
    let [details, images] = Layout::horizontal([Constraint::Percentage(55), Constraint::Fill(1)]).areas(body);
    let [document, selfie] = Layout::vertical([Constraint::Percentage(50), Constraint::Fill(1)]).areas(images);
    CasePanes { details, document, selfie }
}

/// Whether the document and selfie panes fit beside the details; below this the details
/// take the body and `z` shows the images full-screen.
pub fn images_beside(body: Rect) -> bool {
    body.width >= 60 && body.height >= 8
}

/// Inside a bordered pane.
pub fn inner(r: Rect) -> Rect {
    Rect::new(r.x + 1, r.y + 1, r.width.saturating_sub(2), r.height.saturating_sub(2))
}

/// The size images are encoded for: the inside of the document pane (the selfie pane
/// is the same size or one row larger).
pub fn image_area(size: Rect) -> Rect {
    let body = frame(size).body;
    if !images_beside(body) {
        return Rect::default();
    }
    let panes = case_panes(body);
    let r = inner(panes.document);
    Rect::new(0, 0, r.width, r.height)
}

pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(area.x + (area.width - w) / 2, area.y + (area.height - h) / 2, w, h)
}
