//! Metrics against scikit-learn as the independent oracle: F1 (micro, macro, per class), average precision
//! (micro, macro, per class, with tied scores), and a segmentation confusion matrix with an ignore value.

use std::process::Command;

use eoforge_train::{ConfusionMatrix, MultiLabelMetrics};
use ndarray::{Array2, Array3};

/// A seeded stream in [0, 1).
fn uniform(seed: u64, n: usize) -> Vec<f64> {
    eoforge_testkit::seeded_u64s(seed, n).into_iter().map(|z| z as f64 / 2f64.powi(64)).collect()
}

#[test]
fn metrics_equal_scikit_learn() {
    let Some(python) = eoforge_testkit::python_with(&["sklearn", "numpy"]) else { return };
    let (n, classes) = (300, 7);
    let unit = uniform(3, n * classes * 2);
    // Targets with class-dependent frequency; scores correlated with them and rounded to 0.05 (many ties).
    let targets = Array2::from_shape_fn((n, classes), |(i, c)| f32::from(unit[i * classes + c] < 0.1 + 0.1 * c as f64));
    let scores = Array2::from_shape_fn((n, classes), |(i, c)| {
        let noise = unit[n * classes + i * classes + c] as f32;
        ((0.6 * targets[[i, c]] + 0.7 * noise) * 20.0).round() / 20.0
    });
    let mut metrics = MultiLabelMetrics::new(classes);
    for start in (0..n).step_by(64) {
        let end = (start + 64).min(n);
        metrics.update(&scores.slice(ndarray::s![start..end, ..]), &targets.slice(ndarray::s![start..end, ..]));
    }
    let ours = metrics.report(0.5);

    // Segmentation: 4 classes, ignore value 255, predictions right 70 % of the time.
    let draws = uniform(9, 2 * 3 * 20 * 20);
    let target = Array3::from_shape_fn((3, 20, 20), |(b, r, c)| {
        let x = draws[(b * 20 + r) * 20 + c];
        if x < 0.05 { 255 } else { (x * 4.0) as i64 % 4 }
    });
    let predicted = Array3::from_shape_fn((3, 20, 20), |(b, r, c)| {
        let y = draws[1200 + (b * 20 + r) * 20 + c];
        let t = target[[b, r, c]];
        if y < 0.7 && t != 255 { t } else { (y * 40.0) as i64 % 4 }
    });
    let mut confusion = ConfusionMatrix::new(4, Some(255));
    confusion.update(&predicted.view(), &target.view()).expect("valid classes");
    let seg = confusion.report();

    let data = serde_json::json!({
        "y": targets.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        "s": scores.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        "t": target.iter().copied().collect::<Vec<_>>(),
        "p": predicted.iter().copied().collect::<Vec<_>>(),
    });
    let script = r#"
import sys, json, numpy as np
from sklearn.metrics import f1_score, average_precision_score, confusion_matrix, jaccard_score, accuracy_score
d = json.load(sys.stdin)
y, s = np.array(d["y"]), np.array(d["s"], dtype=np.float32)
pred = (s >= 0.5).astype(int)
t, p = np.array(d["t"]), np.array(d["p"])
keep = t != 255
print(json.dumps({
  "micro_f1": f1_score(y, pred, average="micro", zero_division=0),
  "macro_f1": f1_score(y, pred, average="macro", zero_division=0),
  "f1": f1_score(y, pred, average=None, zero_division=0).tolist(),
  "micro_map": average_precision_score(y, s, average="micro"),
  "macro_map": average_precision_score(y, s, average="macro"),
  "ap": average_precision_score(y, s, average=None).tolist(),
  "confusion": confusion_matrix(t[keep], p[keep], labels=[0, 1, 2, 3]).tolist(),
  "iou": jaccard_score(t[keep], p[keep], labels=[0, 1, 2, 3], average=None).tolist(),
  "accuracy": accuracy_score(t[keep], p[keep]),
}))
"#;
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), data.to_string().as_bytes()).expect("write");
    let out = child.wait_with_output().expect("python ran");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sk: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let close = |a: f64, b: &serde_json::Value, what: &str| {
        let b = b.as_f64().unwrap_or(f64::NAN);
        assert!((a - b).abs() < 1e-9, "{what}: ours {a}, scikit-learn {b}");
    };
    close(ours.micro_f1, &sk["micro_f1"], "micro F1");
    close(ours.macro_f1, &sk["macro_f1"], "macro F1");
    close(ours.micro_map, &sk["micro_map"], "micro mAP");
    close(ours.macro_map, &sk["macro_map"], "macro mAP");
    for c in 0..classes {
        close(ours.f1[c], &sk["f1"][c], &format!("F1 of class {c}"));
        close(ours.average_precision[c].expect("positives"), &sk["ap"][c], &format!("AP of class {c}"));
    }
    assert_eq!(serde_json::to_value(&seg.confusion).expect("json"), sk["confusion"]);
    close(seg.pixel_accuracy, &sk["accuracy"], "pixel accuracy");
    for c in 0..4 {
        close(seg.iou[c].expect("present"), &sk["iou"][c], &format!("IoU of class {c}"));
    }
    assert!(ours.macro_map > 0.3 && ours.macro_map < 1.0, "{ours:?}");
}

#[test]
fn absent_classes_and_bad_values_are_handled() {
    let mut metrics = MultiLabelMetrics::new(2);
    let scores = Array2::from_shape_vec((3, 2), vec![0.9f32, 0.2, 0.1, 0.3, 0.8, 0.1]).expect("shape");
    let targets = Array2::from_shape_vec((3, 2), vec![1f32, 0., 0., 0., 1., 0.]).expect("shape");
    metrics.update(&scores.view(), &targets.view());
    let report = metrics.report(0.5);
    assert_eq!(report.average_precision, vec![Some(1.0), None], "a class without positives has no AP");
    assert!((report.macro_map - 1.0).abs() < 1e-12 && (report.micro_f1 - 1.0).abs() < 1e-12);

    let mut confusion = ConfusionMatrix::new(3, Some(-1));
    let t = Array3::from_shape_vec((1, 1, 3), vec![0i64, -1, 7]).expect("shape");
    let p = Array3::from_shape_vec((1, 1, 3), vec![0i64, 2, 1]).expect("shape");
    let err = confusion.update(&p.view(), &t.view()).expect_err("class 7");
    assert!(err.contains("class 7"), "{err}");
}
