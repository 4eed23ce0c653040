//! A day's load curve as inline SVG, drawn here: no chart library and nothing fetched,
//! so the page works on the utility's closed network. One pair of bars per slot —
//! AC input (forward flow) and AC output, in kW over the slot — on a 24-hour axis in
//! JST; a slot that is not measured (estimated, flagged) is drawn hatched-light and
//! says so in its tooltip, a slot with no value leaves its place empty.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use mdms::{Quality, Slot};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// The smallest of 1, 2, 5 × 10^k at or above `x` (the axis' top), 1 for nothing.
fn nice_ceiling(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 1.0;
    }
    let mut step = 10f64.powf(x.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * step >= x {
            step *= m;
            return step;
        }
    }
    step * 10.0
}

/// Average power over the slot, kW.
fn kw(wh: u32, minutes: u8) -> f64 {
    f64::from(wh) * 60.0 / f64::from(minutes.max(1)) / 1000.0
}

/// The curve of the slots of the day starting at `day_start` (others are left out),
/// `minutes` long each.
#[must_use]
pub fn svg(slots: &[Slot], day_start: DateTime<Utc>, minutes: u8) -> String {
    let minutes = minutes.max(1);
    let per_day = 1440 / usize::from(minutes);
    let in_day: Vec<(usize, &Slot)> = slots
        .iter()
        .filter_map(|s| {
            let offset = (s.start - day_start).num_minutes();
            let index = usize::try_from(offset).ok()? / usize::from(minutes);
            (index < per_day).then_some((index, s))
        })
        .collect();
    let top = nice_ceiling(
        in_day
            .iter()
            .flat_map(|(_, s)| [kw(s.in_wh, s.minutes), kw(s.out_wh, s.minutes)])
            .fold(0.0, f64::max),
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot_w = plot_w / per_day as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - v / top);
    let mut out = format!(
        "<svg id=\"curve\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"load curve, {n} slots\" data-slots=\"{n}\">\n",
        n = in_day.len()
    );
    // The axes: kW at 0, half and the top; the hours every three.
    for v in [0.0, top / 2.0, top] {
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{v} kW</text>",
            x2 = WIDTH - RIGHT,
            yy = y(v),
            tx = LEFT - 4.0,
            ty = y(v) + 4.0
        );
    }
    for hour in (0..=24).step_by(3) {
        let x = LEFT + plot_w * f64::from(hour) / 24.0;
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{b}\" stroke=\"#eee\"/><text x=\"{x:.1}\" y=\"{ty}\" text-anchor=\"middle\">{hour:02}:00</text>",
            b = TOP + plot_h,
            ty = HEIGHT - 10.0
        );
    }
    for (index, s) in &in_day {
        let x = LEFT + slot_w * *index as f64;
        let at = (day_start + chrono::TimeDelta::minutes(i64::from(minutes) * *index as i64))
            .with_timezone(&edi::message::JST)
            .format("%H:%M");
        let measured = !matches!(s.quality, Quality::Estimated | Quality::Flagged);
        let opacity = if measured { "1" } else { "0.35" };
        for (class, wh, fill, dx) in [
            ("in", s.in_wh, "#2a6fb0", 0.0),
            ("out", s.out_wh, "#e08a1e", slot_w / 2.0),
        ] {
            let v = kw(wh, s.minutes);
            let _ = writeln!(
                out,
                "<rect class=\"{class}\" data-slot=\"{at}\" data-kwh=\"{kwh:.3}\" x=\"{bx:.2}\" y=\"{by:.2}\" width=\"{bw:.2}\" height=\"{bh:.2}\" fill=\"{fill}\" fill-opacity=\"{opacity}\"><title>{at} AC {class} {kwh:.3} kWh ({q})</title></rect>",
                kwh = f64::from(wh) / 1000.0,
                bx = x + dx,
                by = y(v),
                bw = (slot_w / 2.0 - 0.5).max(0.5),
                bh = TOP + plot_h - y(v),
                q = s.quality
            );
        }
    }
    if in_day.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{x}\" y=\"{yy}\" text-anchor=\"middle\">no slots this day</text>",
            x = LEFT + plot_w / 2.0,
            yy = TOP + plot_h / 2.0
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn slot(start: DateTime<Utc>, in_wh: u32, quality: Quality) -> Slot {
        Slot {
            point: "0300111234567890123456".parse().unwrap(),
            terminal: mdms::TerminalId([1; 8]),
            start,
            minutes: 30,
            in_wh,
            out_wh: 10,
            cum_in: 0,
            cum_out: 0,
            quality,
            received_at: None,
        }
    }

    fn heights(svg: &str, class: &str) -> Vec<f64> {
        svg.split(&format!("<rect class=\"{class}\""))
            .skip(1)
            .map(|r| {
                let h = r.split("height=\"").nth(1).unwrap();
                h[..h.find('"').unwrap()].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn ops_a_day_curve_has_one_bar_pair_per_slot_of_the_day_in_proportion() {
        let day = Utc.with_ymd_and_hms(2026, 1, 1, 15, 0, 0).unwrap(); // 00:00 JST
        let half = chrono::TimeDelta::minutes(30);
        let slots = [
            slot(day - half, 999, Quality::Measured), // the day before: left out
            slot(day, 500, Quality::Measured),
            slot(day + half, 1000, Quality::Estimated),
            slot(day + half * 47, 250, Quality::Measured),
            slot(day + half * 48, 999, Quality::Measured), // the day after
        ];
        let svg = svg(&slots, day, 30);
        assert!(svg.contains("data-slots=\"3\""), "{svg}");
        let h = heights(&svg, "in");
        assert_eq!(h.len(), 3);
        // 1000 Wh in 30 min = 2 kW, the axis' top: the full height; 500 Wh half of it.
        assert!((h[1] - 2.0 * h[0]).abs() < 0.01, "{h:?}");
        assert!((h[1] - 4.0 * h[2]).abs() < 0.01, "{h:?}");
        assert!(svg.contains("data-slot=\"00:00\""));
        assert!(svg.contains("data-slot=\"23:30\""));
        assert!(svg.contains(">2 kW<"), "{svg}");
        assert!(svg.contains("00:30 AC in 1.000 kWh (estimated)"), "{svg}");
        assert_eq!(heights(&svg, "out").len(), 3);
    }

    #[test]
    fn ops_an_empty_day_is_an_empty_curve_that_says_so() {
        let day = Utc.with_ymd_and_hms(2026, 1, 1, 15, 0, 0).unwrap();
        let svg = svg(&[], day, 15);
        assert!(svg.contains("no slots this day"));
        assert!(svg.starts_with("<svg id=\"curve\""));
        assert!(heights(&svg, "in").is_empty());
    }

    #[test]
    fn ops_the_axis_top_is_a_round_number_at_or_above_the_largest() {
        for (x, top) in [
            (0.0, 1.0),
            (0.3, 0.5),
            (1.0, 1.0),
            (1.2, 2.0),
            (3.0, 5.0),
            (7.0, 10.0),
            (12.0, 20.0),
        ] {
            assert!(
                (nice_ceiling(x) - top).abs() < 1e-9,
                "{x} -> {}",
                nice_ceiling(x)
            );
        }
    }
}
