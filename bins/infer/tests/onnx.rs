//! `predict --model FILE.onnx` over a real Sentinel-2 scene (29RKH B02/B03/B04/B08) with the model fixtures (real
//! Swin2SR and SegFormer architectures exported by Hugging Face `transformers`), against ONNX Runtime applied by
//! Python to the whole scene.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eoforge_raster::{DataType, Raster, Window};
use eoforge_testkit::{fixture, gdal_cog_validator, gdal_tool, onnxruntime_library, python_with};
use ndarray::{Array3, Array4, ArrayD, Axis};

fn infer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eoforge-infer")).args(args).output().expect("run eoforge-infer")
}

/// A 256×192 crop of the scene's B02, B03, B04, B08 as one UInt16 GeoTIFF.
fn scene(dir: &Path) -> Option<PathBuf> {
    let bands: Vec<String> = ["B02", "B03", "B04", "B08"]
        .iter()
        .map(|b| fixture(&format!("s2-l2a-29RKH/{b}.tif")).map(|p| p.display().to_string()))
        .collect::<Option<_>>()?;
    let vrt = dir.join("stack.vrt").display().to_string();
    let mut args = vec!["-q", "-separate", vrt.as_str()];
    args.extend(bands.iter().map(String::as_str));
    gdal_tool("gdalbuildvrt", &args);
    let out = dir.join("scene.tif");
    gdal_tool("gdal_translate", &["-q", "-srcwin", "300", "400", "256", "192", &vrt, &out.display().to_string()]);
    Some(out)
}

/// ONNX Runtime in Python over the whole `input` (n, c, h, w): the model's first output.
fn python_onnxruntime(model: &Path, input: &Array4<f32>, dir: &Path) -> ArrayD<f32> {
    let python = python_with(&["numpy", "onnxruntime"]).expect("python with onnxruntime");
    let (x, y) = (dir.join("x.npy"), dir.join("y.npy"));
    std::fs::write(&x, eoforge_shards::npy::to_npy(&input.view().into_dyn())).expect("write x");
    let script = "import sys, numpy as np, onnxruntime as ort\n\
                  s = ort.InferenceSession(sys.argv[1])\n\
                  x = np.load(sys.argv[2])\n\
                  np.save(sys.argv[3], s.run(None, {s.get_inputs()[0].name: x})[0].astype(np.float32))\n";
    let status = Command::new(python)
        .args(["-c", script, &model.display().to_string(), &x.display().to_string(), &y.display().to_string()])
        .status()
        .expect("python");
    assert!(status.success());
    eoforge_shards::npy::from_npy::<f32>(&std::fs::read(&y).expect("read y")).expect("decode y")
}

/// `predict` of `scene` through the Swin2SR fixture (`model`, run by ONNX Runtime `library`) at 4x into `dest`, its
/// output an image in the input's units, 128 px windows with a 32 px halo, then `extra` flags; it must succeed.
fn swin2sr(model: &str, library: &str, scene: &str, dest: &Path, extra: &[&str]) {
    let dest = dest.display().to_string();
    let base = [
        "predict",
        scene,
        &dest,
        "--model",
        model,
        "--onnxruntime",
        library,
        "--output",
        "image",
        "--normalize",
        "scale=0.0001/offset=0",
        "--size-multiple",
        "8",
        "--window",
        "128",
        "--halo",
        "32",
    ];
    let out = infer(&[&base[..], extra].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn read<T: eoforge_raster::Pixel>(path: &Path) -> Array3<T> {
    let r = Raster::open(&path.display().to_string()).expect("open");
    r.read_window::<T>(Window::full(r.width(), r.height()), None).expect("read")
}

#[test]
fn swin2sr_over_a_scene_equals_onnx_runtime_on_the_whole_scene_at_four_times() {
    let (Some(model), Some(library)) = (fixture("models/swin2sr_x4_tiny.onnx"), onnxruntime_library()) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(scene) = scene(dir.path()) else { return };
    let (model_arg, lib, scene_arg) =
        (model.display().to_string(), library.display().to_string(), scene.display().to_string());
    let run = |dest: &Path, extra: &[&str]| swin2sr(&model_arg, &lib, &scene_arg, dest, extra);
    // Centre blending: each output pixel from the window whose centre holds it, 32 px from its edges, beyond the
    // network's reach, so the tiles equal the whole scene's inference within float tolerance.
    let exact = dir.path().join("sr_f32.tif");
    run(&exact, &["--out-dtype", "float32", "--blend", "center"]);
    let input = read::<u16>(&scene).mapv(|v| f32::from(v) * 1e-4).insert_axis(Axis(0));
    let reference = python_onnxruntime(&model, &input, dir.path()).mapv(|v| v / 1e-4);
    let product = read::<f32>(&exact);
    assert_eq!(product.shape(), &reference.shape()[1..], "4x the 192x256 scene");
    let worst =
        product.iter().zip(reference.iter()).map(|(p, r)| (p - r).abs() / r.abs().max(1.0)).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "largest relative difference {worst}");

    // The default: the input's type (UInt16), Hann-blended, a valid COG on the scene's grid at 4x, QC passed.
    let sr = dir.path().join("sr.tif");
    run(&sr, &[]);
    let (valid, report) = gdal_cog_validator(&sr);
    assert!(valid, "{report}");
    let (src, out) = (Raster::open(&scene_arg).expect("scene"), Raster::open(&sr.display().to_string()).expect("sr"));
    assert_eq!((out.width(), out.height(), out.dtype(1).expect("type")), (1024, 768, DataType::UInt16));
    assert!(out.crs().expect("crs").is_same(&src.crs().expect("crs")));
    let (g, h) = (src.geo_transform().expect("gt"), out.geo_transform().expect("gt"));
    assert!((g.0[1] / 4.0 - h.0[1]).abs() < 1e-9 && (g.0[0] - h.0[0]).abs() < 1e-6);
    let qc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.qc.json", sr.display())).expect("qc")).expect("json");
    assert_eq!(qc["passed"], true, "{qc}");
    assert!(qc.to_string().contains("clipped_pixels"), "{qc}");
}

#[test]
fn segformer_writes_a_class_map_of_its_cards_classes() {
    let (Some(model), Some(library)) = (fixture("models/segformer_tiny.onnx"), onnxruntime_library()) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(scene) = scene(dir.path()) else { return };
    // The model with its card beside it: bands, scaling and classes (values 10…50 with names and colours).
    let local = dir.path().join("segformer.onnx");
    std::fs::copy(&model, &local).expect("copy model");
    let card = serde_json::json!({
        "type": "Feature",
        "properties": {
            "mlm:input": [{
                "name": "image", "bands": [],
                "input": {"shape": [-1, 4, -1, -1], "dim_order": ["batch", "channel", "height", "width"], "data_type": "float32"},
                "value_scaling": [{"type": "scale", "value": 10000}]
            }],
            "mlm:output": [{
                "name": "logits", "tasks": ["semantic-segmentation"],
                "result": {"shape": [-1, 5, -1, -1], "dim_order": ["batch", "channel", "height", "width"], "data_type": "float32"},
                "classification:classes": [
                    {"value": 10, "name": "water", "color_hint": "0000FF"},
                    {"value": 20, "name": "crop", "color_hint": "FFFF00"},
                    {"value": 30, "name": "tree", "color_hint": "00FF00"},
                    {"value": 40, "name": "built", "color_hint": "FF0000"},
                    {"value": 50, "name": "bare", "color_hint": "AAAAAA"}
                ]
            }],
            "eoforge:size_multiple": 32
        }
    });
    std::fs::write(eoforge_predict::card_path(&local), serde_json::to_vec_pretty(&card).expect("json")).expect("card");
    let dest = dir.path().join("classes.tif");
    let args = [
        "predict",
        &scene.display().to_string(),
        &dest.display().to_string(),
        "--model",
        &local.display().to_string(),
        "--onnxruntime",
        &library.display().to_string(),
        "--window",
        "256",
    ];
    let out = infer(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (valid, report) = gdal_cog_validator(&dest);
    assert!(valid, "{report}");
    let map = Raster::open(&dest.display().to_string()).expect("map");
    assert_eq!(map.dtype(1).expect("type"), DataType::UInt8);
    let metadata = map.metadata().expect("metadata");
    let items = format!("{:?}", metadata.bands);
    assert!(items.contains("10=water") && items.contains("50=bare"), "{items}");
    assert_eq!(map.color_table(1).expect("palette").expect("a palette")[10], [0, 0, 255]);
    // One window covers the scene, so the map is ONNX Runtime's logits on the whole scene, upsampled bilinearly to
    // the scene and argmaxed, as SegFormer's users do.
    let input = read::<u16>(&scene).mapv(|v| f32::from(v) / 10_000.0).insert_axis(Axis(0));
    let logits = python_onnxruntime(&model, &input, dir.path()).into_dimensionality::<ndarray::Ix4>().expect("4-d");
    let up = eoforge_predict::upsample_bilinear(&logits.view(), 192, 256);
    let values = [10u8, 20, 30, 40, 50];
    let pixels = read::<u8>(&dest);
    let mut agree = 0usize;
    for y in 0..192 {
        for x in 0..256 {
            let scores = up.slice(ndarray::s![0, .., y, x]);
            let best = (0..5).fold(0, |b, k| if scores[k] > scores[b] { k } else { b });
            agree += usize::from(pixels[[0, y, x]] == values[best]);
        }
    }
    assert!(pixels.iter().all(|v| values.contains(v)), "only the card's classes");
    assert!(agree as f64 >= 0.999 * 192.0 * 256.0, "{agree} of {} pixels agree", 192 * 256);
    // Refused, naming what is wrong: an output flag a class map cannot take; a model fed the wrong band count.
    let mut refused: Vec<&str> = args.to_vec();
    refused.extend(["--out-dtype", "float32", "--force"]);
    let out = infer(&refused);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let mut three: Vec<&str> = args.to_vec();
    three.extend(["--input-bands", "1,2,3", "--force"]);
    let out = infer(&three);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("4 input channels, but 3 bands"), "{stderr}");
}

#[test]
fn a_file_that_is_no_model_and_a_missing_runtime_are_clear_errors() {
    let Some(library) = onnxruntime_library() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(scene) = scene(dir.path()) else { return };
    let fake = dir.path().join("weights.onnx");
    std::fs::write(&fake, b"PK\x03\x04 a zip, not a protobuf").expect("write");
    let dest = dir.path().join("out.tif").display().to_string();
    let base =
        ["predict", &scene.display().to_string(), &dest, "--model", &fake.display().to_string()].map(String::from);
    let run = |extra: &[&str]| {
        let mut args: Vec<String> = base.to_vec();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        infer(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = run(&["--output", "image", "--onnxruntime", &library.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("weights.onnx")
            && stderr.contains("not a model ONNX Runtime can load"),
        "{stderr}"
    );
    let out = run(&["--output", "image", "--onnxruntime", "/nonexistent/libonnxruntime.so"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("pip install onnxruntime"), "{stderr}");
    let out = run(&["--onnxruntime", &library.display().to_string()]);
    assert_eq!(out.status.code(), Some(2), "no card and no --output is a usage error");
    assert!(!Path::new(&dest).exists(), "nothing published");
}

#[test]
fn a_model_with_fixed_sizes_gets_windows_of_that_size_and_its_batch() {
    let Some(library) = onnxruntime_library() else { return };
    let Some(python) = python_with(&["onnx"]) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(scene) = scene(dir.path()) else { return };
    // y = 2·x with input and output fixed at (1, 4, 64, 64), as many exported models are.
    let model = dir.path().join("double.onnx");
    let script = "import sys, onnx\n\
                  from onnx import helper, TensorProto\n\
                  x = helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 4, 64, 64])\n\
                  y = helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 4, 64, 64])\n\
                  two = helper.make_tensor('two', TensorProto.FLOAT, [], [2.0])\n\
                  graph = helper.make_graph([helper.make_node('Mul', ['x', 'two'], ['y'])], 'double', [x], [y], [two])\n\
                  m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 18)])\n\
                  m.ir_version = 8\n\
                  onnx.save(m, sys.argv[1])\n";
    let status = Command::new(python).args(["-c", script, &model.display().to_string()]).status().expect("python");
    assert!(status.success());
    let dest = dir.path().join("double.tif");
    let out = infer(&[
        "predict",
        &scene.display().to_string(),
        &dest.display().to_string(),
        "--model",
        &model.display().to_string(),
        "--onnxruntime",
        &library.display().to_string(),
        "--output",
        "values",
        "--window",
        "128",
        "--halo",
        "8",
        "--batch",
        "3",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.profile.json", dest.display())).expect("profile"))
            .expect("json");
    assert_eq!(profile["model"]["signature"]["fixed_size"], serde_json::json!([64, 64]), "{profile}");
    assert_eq!(profile["model"]["signature"]["fixed_batch"], 1, "{profile}");
    // 64 px windows with an 8 px halo: stride 48 over 256 x 192 → 5 x 4 windows.
    assert_eq!(profile["engine"]["windows"], 20, "{profile}");
    let product = read::<f32>(&dest);
    let input = read::<u16>(&scene);
    assert!(
        product.iter().zip(input.iter()).all(|(p, x)| p.to_bits() == (2.0 * f32::from(*x)).to_bits()),
        "2x the scene everywhere"
    );
}

#[test]
fn the_quality_band_marks_nodata_pixels_those_near_it_and_clipped_values() {
    let (Some(model), Some(library)) = (fixture("models/swin2sr_x4_tiny.onnx"), onnxruntime_library()) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(scene) = scene(dir.path()) else { return };
    // A 16 x 16 hole of nodata (0, the fixture's) in every band at columns 100..116, rows 60..76.
    let hole = "from osgeo import gdal\nimport sys\nds = gdal.Open(sys.argv[1], 1)\n\
                [ds.GetRasterBand(b).WriteRaster(100, 60, 16, 16, bytes(512)) for b in range(1, 5)]\nds = None\n";
    let status =
        Command::new("/usr/bin/python3").args(["-c", hole, &scene.display().to_string()]).status().expect("python");
    assert!(status.success());
    let (model_arg, lib, scene_arg) =
        (model.display().to_string(), library.display().to_string(), scene.display().to_string());
    let run = |dest: &Path, extra: &[&str]| swin2sr(&model_arg, &lib, &scene_arg, dest, extra);
    let product = dir.path().join("sr.tif");
    run(&product, &["--quality-band"]);
    // The same blend unclipped (Float32): which values the UInt16 product had to clip.
    let unclipped = dir.path().join("sr_f32.tif");
    run(&unclipped, &["--out-dtype", "float32"]);

    let raster = Raster::open(&product.display().to_string()).expect("product");
    assert_eq!(raster.band_count(), 5);
    assert_eq!(raster.band_description(5).expect("name"), "quality");
    let quality = raster.read_window::<u16>(Window::full(1024, 768), Some(&[5])).expect("read");
    let values = read::<f32>(&unclipped);
    let mut counts = [0u64; 4];
    for ((_, y, x), &q) in quality.indexed_iter() {
        let (col, row) = (x / 4, y / 4);
        let inside = (100..116).contains(&col) && (60..76).contains(&row);
        // Chebyshev distance from the input pixel to the hole, in input pixels.
        let dx = if col < 100 { 100 - col } else { col.saturating_sub(115) };
        let dy = if row < 60 { 60 - row } else { row.saturating_sub(75) };
        let near = dx.max(dy) <= 32;
        let clipped = values.index_axis(Axis(1), y).column(x).iter().any(|&v| v.round() < 1.0 || v.round() > 65535.0);
        let want = if inside {
            0
        } else if clipped {
            3
        } else if near {
            2
        } else {
            1
        };
        assert_eq!(q, want, "quality at output ({x}, {y}), input ({col}, {row})");
        counts[usize::from(q)] += 1;
    }
    assert_eq!(counts[0], 64 * 64, "the hole at 4x");
    assert!(counts[1] > 0 && counts[2] > 0 && counts[3] > 0, "{counts:?}");

    // QC counts each value; the Item describes the band.
    let qc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.qc.json", product.display())).expect("qc")).expect("json");
    assert_eq!(qc["passed"], true, "{qc}");
    let check = qc["checks"].as_array().expect("checks").iter().find(|c| c["name"] == "band_5.quality").expect("check");
    let detail = check["detail"].as_str().expect("detail");
    for (v, n) in counts.iter().enumerate() {
        assert!(detail.contains(&format!("{v} (")) && detail.contains(&format!(": {n}")), "{detail} vs {counts:?}");
    }
    let item: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", product.display())).expect("item")).expect("json");
    let band = &item["assets"]["data"]["raster:bands"][4];
    assert_eq!(band["classification:classes"][2]["name"], "nodata_near", "{band}");
    assert!(item["stac_extensions"].to_string().contains("classification"), "{item}");
    let item_path = PathBuf::from(format!("{}.json", product.display()));
    let report = eoforge_testkit::validate_stac(&[&item_path]).expect("validator");
    assert!(
        report.contains(": valid") && !report.contains("not checked: https://stac-extensions.github.io/classification"),
        "{report}"
    );
}
