use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::{Duration, Instant};
use tlc_explorer::LeadName;
use tlc_explorer::app::{Settings, TlcApp};
use tlc_explorer::figure::Caliper;

fn run(path: &str, exts: &[&str], out: &str, window: Option<f64>) {
    let launch = tlc_explorer::app::Launch {
        path: Some(path.into()),
        model: None,
        explainer: None,
    };
    let mut settings = Settings::default();
    settings.reference_annotators = exts.iter().map(|s| s.to_string()).collect();
    let app = TlcApp::new(None, settings, launch).unwrap();
    let mut h = Harness::builder()
        .with_size([1600.0, 1000.0])
        .with_max_steps(16)
        .build_ui_state(|ui, app: &mut TlcApp| app.ui_root(ui), app);
    let start = Instant::now();
    loop {
        h.step();
        if h.state().is_idle() && start.elapsed() > Duration::from_secs(2) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        assert!(start.elapsed() < Duration::from_secs(180));
    }
    h.run_ok();
    if let Some(w) = window {
        h.state_mut().view_mut().centre_on(w);
    }
    h.run_ok();
    // a caliper between two beats on the first lead
    let lead = h.state().current_record().unwrap().ecg.leads[1].clone();
    let beats: Vec<f64> = h
        .state()
        .current_record()
        .unwrap()
        .measurements
        .as_ref()
        .unwrap()
        .beats
        .iter()
        .map(|b| b.time_s)
        .collect();
    let _ = LeadName::II;
    let vis = h.state().view().visible_s.unwrap();
    let inside: Vec<f64> = beats
        .into_iter()
        .filter(|t| *t > vis.0 && *t < vis.1)
        .collect();
    if inside.len() >= 3 {
        let key = h
            .state()
            .current_record()
            .unwrap()
            .ecg
            .meta
            .source
            .clone()
            .unwrap()
            .display()
            .to_string();
        let st = h.state_mut();
        st.settings.calipers.insert(
            key,
            vec![
                Caliper::Time {
                    lead: lead.clone(),
                    start_s: inside[1],
                    end_s: inside[2],
                    bar_mv: 1.2,
                    march: true,
                },
                Caliper::Amplitude {
                    lead,
                    time_s: inside[1] + 0.05,
                    from_mv: 0.0,
                    to_mv: 1.0,
                },
            ],
        );
    }
    h.run_ok();
    eprintln!("errors: {:?}", h.state().errors());
    for l in h.state().reference_layers() {
        eprintln!(
            "layer {} {:?}",
            l.file.extension,
            &l.marks[..6.min(l.marks.len())]
        );
    }
    eprintln!(
        "files {:?}",
        h.state()
            .reference_files()
            .iter()
            .map(|f| &f.extension)
            .collect::<Vec<_>>()
    );
    let img = h.render().unwrap();
    img.save(out).unwrap();
    let _ = h.query_by_label("x");
}

#[test]
fn scratch_ludb() {
    run(
        "../shared/data/ludb/data/1.hea",
        &["ii", "i"],
        "/tmp/shots/ludb.png",
        None,
    );
}
#[test]
fn scratch_mitdb() {
    run(
        "../shared/data/mitdb/100.hea",
        &["atr"],
        "/tmp/shots/mit.png",
        Some(20.0),
    );
}
