mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use ndarray::Array2;
use tlc_explorer::model::{LoadedModel, ModelConfig, ModelError};

fn load_st(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).expect("fixture readable")
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn fixture_inputs(input: &Tensor) -> Vec<Array2<f32>> {
    let (b, c, l) = input.dims3().unwrap();
    (0..b)
        .map(|i| {
            let v: Vec<f32> = flat(&input.get(i).unwrap());
            Array2::from_shape_vec((c, l), v).unwrap()
        })
        .collect()
}

/// The PyTorch golden fixture: logits, block outputs and Grad-CAM weights within 1e-4.
#[test]
fn golden_fixture_matches_pytorch() {
    let (Some(weights), Some(config), Some(input), Some(expected)) = (
        common::fixture("resnet_fixture.safetensors"),
        common::fixture("model_config.json"),
        common::fixture("input.safetensors"),
        common::fixture("expected.safetensors"),
    ) else {
        return;
    };
    let model = LoadedModel::open_with_config(&weights, &config).expect("fixture model opens");
    assert_eq!(
        model.config.macs_per_input(),
        2_509_468_672,
        "MAC count of the fixture config"
    );
    assert_eq!(model.sha256.len(), 64);
    let input = load_st(&input).remove("input").unwrap();
    let expected = load_st(&expected);
    let inputs = fixture_inputs(&input);

    let out = model
        .explain_forward(&inputs, &[2, 3, 4], Some((4, 0)))
        .expect("forward_explain");
    let e = common::rel_err(&flat(&out.logits), &flat(&expected["logits"]));
    assert!(e < 1e-4, "logits rel err {e}");
    for b in [2usize, 3, 4] {
        let got = out.blocks[b].as_ref().expect("requested block present");
        let want = &expected[&format!("resblock1d_{b}_out")];
        assert_eq!(got.dims(), want.dims());
        let e = common::rel_err(&flat(got), &flat(want));
        assert!(e < 1e-4, "block {b} rel err {e}");
    }
    assert!(out.blocks[0].is_none() && out.blocks[1].is_none());
    let grad = out.grad.expect("gradient requested");
    assert_eq!(grad.dims(), &[4, 320, 16]);
    let weights = grad.mean(2).unwrap();
    let e = common::rel_err(&flat(&weights), &flat(&expected["gradcam_class0_weights"]));
    assert!(e < 1e-4, "gradcam weights rel err {e}");

    // The plain batched forward agrees with the explain forward.
    let logits = model.predict(&inputs).unwrap();
    let logits: Vec<f32> = logits.into_iter().flatten().collect();
    let e = common::rel_err(&logits, &flat(&expected["logits"]));
    assert!(e < 1e-4, "predict rel err {e}");
}
