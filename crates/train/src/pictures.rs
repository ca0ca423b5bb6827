//! Pictures of a finished run, as PNG: `curves.png` (training loss per step and the validation metric per
//! epoch); for segmentation runs `samples.png` (validation windows: input RGB, label, prediction); for regression
//! runs `samples.png` (input RGB, target, prediction on one grey scale) and `scatter.png` (prediction against
//! target over the validation split, with the 1:1 line).

use std::path::Path;

use burn::tensor::backend::Backend;
use ndarray::{Array3, ArrayView2, ArrayView3};

use crate::error::{Error, Result};
use crate::loader::{Loader, LoaderConfig};
use crate::objective::predict_classes;
use crate::run_dir::TrainedRun;
use crate::shard_set::ShardSet;

/// An RGB canvas.
struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Self { width, height, pixels: vec![255; width * height * 3] }
    }

    fn set(&mut self, x: usize, y: usize, color: [u8; 3]) {
        if x < self.width && y < self.height {
            let at = (y * self.width + x) * 3;
            self.pixels[at..at + 3].copy_from_slice(&color);
        }
    }

    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), color: [u8; 3]) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                self.set(x as usize + dx, y as usize + dy, color);
            }
        }
    }

    fn rect(&mut self, x: usize, y: usize, w: usize, h: usize, color: [u8; 3]) {
        for i in x..x + w {
            self.set(i, y, color);
            self.set(i, y + h, color);
        }
        for j in y..=y + h {
            self.set(x, j, color);
            self.set(x + w, j, color);
        }
    }

    /// Text in a 3×5 pixel font scaled by `scale` (upper-case letters, digits, `. - : % ( ) /`).
    fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, color: [u8; 3]) {
        for (i, c) in text.chars().enumerate() {
            let bits = glyph(c.to_ascii_uppercase());
            for row in 0..5 {
                for col in 0..3 {
                    if bits >> (14 - (row * 3 + col)) & 1 == 1 {
                        for (sy, sx) in (0..scale).flat_map(|a| (0..scale).map(move |b| (a, b))) {
                            self.set(x + (i * 4 + col) * scale + sx, y + row * scale + sy, color);
                        }
                    }
                }
            }
        }
    }

    fn blit(&mut self, x: usize, y: usize, image: &Array3<u8>) {
        let (h, w, _) = image.dim();
        for r in 0..h {
            for c in 0..w {
                self.set(x + c, y + r, [image[(r, c, 0)], image[(r, c, 1)], image[(r, c, 2)]]);
            }
        }
    }

    fn save(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path)?;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let err = |e: png::EncodingError| Error::Run { path: path.to_owned(), reason: e.to_string() };
        encoder.write_header().map_err(err)?.write_image_data(&self.pixels).map_err(err)
    }
}

/// 3×5 glyphs, row-major from the top-left bit (bit 14).
fn glyph(c: char) -> u16 {
    match c {
        '0' => 0b111_101_101_101_111,
        '1' => 0b010_110_010_010_111,
        '2' => 0b111_001_111_100_111,
        '3' => 0b111_001_111_001_111,
        '4' => 0b101_101_111_001_001,
        '5' => 0b111_100_111_001_111,
        '6' => 0b111_100_111_101_111,
        '7' => 0b111_001_010_010_010,
        '8' => 0b111_101_111_101_111,
        '9' => 0b111_101_111_001_111,
        'A' => 0b010_101_111_101_101,
        'B' => 0b110_101_110_101_110,
        'C' => 0b011_100_100_100_011,
        'D' => 0b110_101_101_101_110,
        'E' => 0b111_100_110_100_111,
        'F' => 0b111_100_110_100_100,
        'G' => 0b011_100_101_101_011,
        'H' => 0b101_101_111_101_101,
        'I' => 0b111_010_010_010_111,
        'J' => 0b001_001_001_101_010,
        'K' => 0b101_101_110_101_101,
        'L' => 0b100_100_100_100_111,
        'M' => 0b101_111_111_101_101,
        'N' => 0b110_101_101_101_101,
        'O' => 0b010_101_101_101_010,
        'P' => 0b110_101_110_100_100,
        'Q' => 0b010_101_101_110_011,
        'R' => 0b110_101_110_101_101,
        'S' => 0b011_100_010_001_110,
        'T' => 0b111_010_010_010_010,
        'U' => 0b101_101_101_101_111,
        'V' => 0b101_101_101_101_010,
        'W' => 0b101_101_111_111_101,
        'X' => 0b101_101_010_101_101,
        'Y' => 0b101_101_010_010_010,
        'Z' => 0b111_001_010_100_111,
        '.' => 0b000_000_000_000_010,
        '-' => 0b000_000_111_000_000,
        ':' => 0b000_010_000_010_000,
        '%' => 0b101_001_010_100_101,
        '(' => 0b001_010_010_010_001,
        ')' => 0b100_010_010_010_100,
        '/' => 0b001_001_010_100_100,
        '_' => 0b000_000_000_000_111,
        _ => 0,
    }
}

/// Draws `curves.png` and, for a segmentation run with a validation split, `samples.png` into the run directory.
pub fn draw_run<B: Backend>(run: &TrainedRun, set: &ShardSet, device: &B::Device) -> Result<()> {
    draw_curves(run)?;
    let validation = set.shards("validation").is_ok_and(|s| !s.is_empty());
    if run.config.model.is_segmentation() && validation {
        draw_samples::<B>(run, set, 4, device)?;
    }
    if run.config.model.is_regression() && validation {
        draw_regression::<B>(run, set, 4, device)?;
    }
    Ok(())
}

/// The first `count` validation windows of `set`, read as `run` reads them.
fn first_validation_batch(run: &TrainedRun, set: &ShardSet, count: usize) -> Result<Option<crate::loader::Batch>> {
    let loader = Loader::for_run(
        set.clone(),
        LoaderConfig {
            split: "validation".into(),
            batch_size: count,
            shuffle_buffer: 0,
            input: run.data.input.clone(),
            ..LoaderConfig::default()
        },
        &run.data,
    )?;
    loader.epoch(0).next().transpose()
}

/// `samples.png` (input, target, prediction) and `scatter.png` of a regression run.
fn draw_regression<B: Backend>(run: &TrainedRun, set: &ShardSet, count: usize, device: &B::Device) -> Result<()> {
    let model = run.vit_regressor::<B>(device)?;
    let Some(scale) = &run.data.target else { return Ok(()) };
    if let Some(batch) = first_validation_batch(run, set, count)?
        && let Some(targets) = &batch.targets
    {
        let (n, _, h, w) = batch.inputs.dim();
        let input = burn::tensor::Tensor::<B, 4>::from_data(
            burn::tensor::TensorData::new(
                batch.inputs.iter().copied().collect::<Vec<f32>>(),
                [n, batch.inputs.dim().1, h, w],
            ),
            device,
        );
        let predicted: Vec<f32> =
            model.forward_with(input, &batch.coords()).into_data().convert::<f32>().to_vec().unwrap_or_default();
        let predicted = Array3::from_shape_vec((n, h, w), predicted)
            .map_err(|e| Error::Config { field: "model", reason: e.to_string() })?
            .mapv(|v| (f64::from(v) * scale.std + scale.mean) as f32);
        let grey = |v: f32| -> [u8; 3] {
            if !v.is_finite() {
                return [255, 0, 255];
            }
            let level = ((f64::from(v) - scale.min) / (scale.max - scale.min).max(1e-12)).clamp(0.0, 1.0);
            let g = (level * 255.0) as u8;
            [g, g, g]
        };
        let gap = 8;
        let rgb = rgb_channels(&run.data.channels);
        let mut canvas = Canvas::new(3 * w + 4 * gap, n * (h + gap) + gap + 20);
        for (k, title) in ["INPUT", "TARGET", "PREDICTION"].iter().enumerate() {
            canvas.text(gap + k * (w + gap), 4, title, 2, [0, 0, 0]);
        }
        for i in 0..n {
            let y = 20 + gap + i * (h + gap);
            canvas.blit(gap, y, &stretch(&batch.inputs.index_axis(ndarray::Axis(0), i), rgb));
            canvas.blit(2 * gap + w, y, &paint(&targets.index_axis(ndarray::Axis(0), i), &grey));
            canvas.blit(3 * gap + 2 * w, y, &paint(&predicted.index_axis(ndarray::Axis(0), i), &grey));
        }
        canvas.save(&run.dir.join("samples.png"))?;
    }
    let crate::objective::Report::Regression(report) = run.evaluate::<B>(set, "validation", device)? else {
        return Ok(());
    };
    draw_scatter(&report, &scale.name, &run.dir.join("scatter.png"))
}

/// Prediction (y) against target (x): pixel darkness grows with the pairs falling on it; the 1:1 line in red.
fn draw_scatter(report: &crate::RegressionReport, name: &str, path: &Path) -> Result<()> {
    let (left, top, side) = (70, 40, 400);
    let mut canvas = Canvas::new(left + side + 20, top + side + 40);
    canvas.text(left, 8, &format!("{name}: R2 {:.3} RMSE {:.4}", report.r2, report.rmse), 2, [0, 0, 0]);
    canvas.rect(left, top, side, side, [128, 128, 128]);
    let (lo, hi) = report
        .pairs
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    if report.pairs.is_empty() || lo >= hi {
        canvas.text(left + 10, top + 10, "NO DATA", 2, [128, 128, 128]);
        return canvas.save(path);
    }
    let at = |v: f32| ((v - lo) / (hi - lo) * (side - 2) as f32) as usize;
    let mut counts = vec![0u32; side * side];
    for [t, p] in &report.pairs {
        if t.is_finite() && p.is_finite() {
            counts[(side - 1 - at(*p).min(side - 1)) * side + at(*t).min(side - 1)] += 1;
        }
    }
    let most = counts.iter().copied().max().unwrap_or(1).max(1) as f32;
    for (i, c) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
        let shade = (200.0 * (1.0 - (*c as f32).ln_1p() / most.ln_1p())) as u8;
        canvas.set(left + 1 + i % side, top + 1 + i / side, [shade, shade, 255]);
    }
    canvas.line(
        ((left + 1) as f64, (top + side - 1) as f64),
        ((left + side - 1) as f64, (top + 1) as f64),
        [214, 39, 40],
    );
    canvas.text(left, top + side + 6, &format!("TARGET {lo:.3}"), 2, [0, 0, 0]);
    let label = format!("{hi:.3}");
    canvas.text(left + side - label.len() * 8, top + side + 6, &label, 2, [0, 0, 0]);
    canvas.text(4, top, &format!("{hi:.2}"), 2, [0, 0, 0]);
    canvas.text(4, top + side - 10, &format!("{lo:.2}"), 2, [0, 0, 0]);
    canvas.save(path)
}

/// One JSON value per line of a run file (missing file: none).
fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default()
}

/// Training loss per step (top) and the run's validation metric per epoch (bottom).
fn draw_curves(run: &TrainedRun) -> Result<()> {
    let losses: Vec<(f64, f64)> = json_lines(&run.dir.join("losses.jsonl"))
        .iter()
        .filter_map(|v| Some((v["step"].as_f64()?, v["loss"].as_f64()?)))
        .collect();
    let metric = run.config.metric().to_owned();
    let scores: Vec<(f64, f64)> = json_lines(&run.dir.join("metrics.jsonl"))
        .iter()
        .filter_map(|v| Some((v["epoch"].as_f64()?, v["validation"][metric.as_str()].as_f64()?)))
        .collect();
    let mut canvas = Canvas::new(640, 480);
    plot(&mut canvas, 30, "TRAINING LOSS PER STEP", &losses, [31, 119, 180]);
    plot(&mut canvas, 270, &format!("VALIDATION {metric} PER EPOCH"), &scores, [214, 39, 40]);
    canvas.save(&run.dir.join("curves.png"))
}

/// A line plot in a 200 px high panel from `top`, with its title and value range.
fn plot(canvas: &mut Canvas, top: usize, title: &str, points: &[(f64, f64)], color: [u8; 3]) {
    let (left, width, height) = (70, 540, 170);
    canvas.text(left, top - 22, title, 2, [0, 0, 0]);
    canvas.rect(left, top, width, height, [128, 128, 128]);
    if points.is_empty() {
        canvas.text(left + 10, top + 10, "NO DATA", 2, [128, 128, 128]);
        return;
    }
    let (x0, x1) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y0, y1) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let (xs, ys) = ((x1 - x0).max(1e-12), (y1 - y0).max(1e-12));
    let at = |(x, y): (f64, f64)| {
        (
            left as f64 + 4.0 + (x - x0) / xs * (width - 8) as f64,
            (top + height) as f64 - 4.0 - (y - y0) / ys * (height - 8) as f64,
        )
    };
    for pair in points.windows(2) {
        canvas.line(at(pair[0]), at(pair[1]), color);
    }
    if points.len() == 1 {
        let (x, y) = at(points[0]);
        canvas.line((x - 3.0, y), (x + 3.0, y), color);
    }
    canvas.text(4, top, &format!("{y1:.3}"), 2, [0, 0, 0]);
    canvas.text(4, top + height - 10, &format!("{y0:.3}"), 2, [0, 0, 0]);
    canvas.text(left, top + height + 6, &format!("{x0}"), 2, [0, 0, 0]);
    let label = format!("{x1}");
    canvas.text(left + width - label.len() * 8, top + height + 6, &label, 2, [0, 0, 0]);
}

/// The first `count` validation windows: input RGB, label and prediction side by side, one row each.
fn draw_samples<B: Backend>(run: &TrainedRun, set: &ShardSet, count: usize, device: &B::Device) -> Result<()> {
    let model = run.segmentation::<B>(device)?;
    let Some(batch) = first_validation_batch(run, set, count)? else { return Ok(()) };
    let predicted = predict_classes(&model, &batch, None, device)?;
    let Some(masks) = &batch.masks else { return Ok(()) };
    let (n, _, h, w) = batch.inputs.dim();
    let rgb = rgb_channels(&run.data.channels);
    // Masks and predictions hold class indices: the class table's colours, grey for "no label".
    let colors = |i: i64| -> [u8; 3] {
        if i == crate::labels::IGNORED {
            return [128, 128, 128];
        }
        usize::try_from(i)
            .ok()
            .and_then(|i| run.data.classes.classes().get(i))
            .map_or_else(|| eoforge_shards::ClassInfo::default_color(i as u16), |c| c.color)
    };
    let gap = 8;
    let mut canvas = Canvas::new(3 * w + 4 * gap, n * (h + gap) + gap + 20);
    for (k, title) in ["INPUT", "LABEL", "PREDICTION"].iter().enumerate() {
        canvas.text(gap + k * (w + gap), 4, title, 2, [0, 0, 0]);
    }
    for i in 0..n {
        let y = 20 + gap + i * (h + gap);
        canvas.blit(gap, y, &stretch(&batch.inputs.index_axis(ndarray::Axis(0), i), rgb));
        canvas.blit(2 * gap + w, y, &paint(&masks.index_axis(ndarray::Axis(0), i), &colors));
        canvas.blit(3 * gap + 2 * w, y, &paint(&predicted.index_axis(ndarray::Axis(0), i), &colors));
    }
    canvas.save(&run.dir.join("samples.png"))
}

/// Channels shown as red, green, blue: Sentinel-2's B04, B03, B02 when named so, else the first three.
fn rgb_channels(channels: &[String]) -> [usize; 3] {
    let find = |name: &str| channels.iter().position(|c| c.eq_ignore_ascii_case(name));
    if let (Some(r), Some(g), Some(b)) = (find("B04"), find("B03"), find("B02")) {
        [r, g, b]
    } else {
        let last = channels.len().saturating_sub(1);
        [0, 1.min(last), 2.min(last)]
    }
}

/// Normalised channels as 8-bit RGB, each stretched between its 2nd and 98th percentile.
fn stretch(image: &ArrayView3<'_, f32>, rgb: [usize; 3]) -> Array3<u8> {
    let (_, h, w) = image.dim();
    let mut out = Array3::<u8>::zeros((h, w, 3));
    for (k, &c) in rgb.iter().enumerate() {
        let plane = image.index_axis(ndarray::Axis(0), c);
        let mut values: Vec<f32> = plane.iter().copied().filter(|v| v.is_finite()).collect();
        values.sort_by(f32::total_cmp);
        let (lo, hi) = if values.is_empty() {
            (0.0, 1.0)
        } else {
            (values[values.len() * 2 / 100], values[(values.len() * 98 / 100).min(values.len() - 1)])
        };
        let span = (hi - lo).max(1e-6);
        for ((r, col), v) in plane.indexed_iter() {
            out[(r, col, k)] = ((v - lo) / span * 255.0).clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Values (classes, targets) as their colours.
fn paint<T: Copy>(values: &ArrayView2<'_, T>, color: &dyn Fn(T) -> [u8; 3]) -> Array3<u8> {
    let (h, w) = values.dim();
    let mut out = Array3::<u8>::zeros((h, w, 3));
    for ((r, c), v) in values.indexed_iter() {
        let rgb = color(*v);
        for k in 0..3 {
            out[(r, c, k)] = rgb[k];
        }
    }
    out
}
