//! Opening a data set index of 20,000 records must take well under a second: only the index is
//! read (CSV rows, a directory listing, HDF5 exam ids), never a record.
//!
//! `cargo bench --bench io`

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use tlc_explorer::io::table::Table;
use tlc_explorer::io::{Code15Dataset, Dataset, FolderDataset, PtbxlDataset, PtbxlRate, ptbxl};

const N_RECORDS: usize = 20_000;

/// A PTB-XL-shaped `ptbxl_database.csv` of `n` rows and a `scp_statements.csv`.
fn ptbxl_csvs(n: usize) -> (Vec<u8>, Vec<u8>) {
    let codes = [
        "{'NORM': 100.0, 'SR': 0.0}",
        "{'IMI': 35.0, 'NDT': 0.0, 'SR': 0.0}",
        "{'LVH': 50.0, 'CLBBB': 100.0}",
    ];
    let mut db = String::from(
        "ecg_id,patient_id,age,sex,report,scp_codes,strat_fold,filename_lr,filename_hr\n",
    );
    for i in 1..=n {
        db.push_str(&format!(
            "{i},{}.0,{}.0,{},sinusrhythmus normales ekg,\"{}\",{},records100/{:05}/{i:05}_lr,records500/{:05}/{i:05}_hr\n",
            i * 7,
            20 + i % 70,
            i % 2,
            codes[i % codes.len()],
            1 + i % 10,
            i / 1000 * 1000,
            i / 1000 * 1000
        ));
    }
    let mut scp =
        String::from(",description,diagnostic,form,rhythm,diagnostic_class,diagnostic_subclass\n");
    for (code, class) in ptbxl::BUILTIN_DIAGNOSTIC_CLASSES {
        scp.push_str(&format!("{code},x,1.0,,,{class},{class}\n"));
    }
    scp.push_str("SR,sinus rhythm,,,1.0,,\n");
    (db.into_bytes(), scp.into_bytes())
}

fn bench_index(c: &mut Criterion) {
    let (db, scp) = ptbxl_csvs(N_RECORDS);
    c.bench_function("ptbxl_index_20000_rows", |b| {
        b.iter(|| {
            let db = Table::parse(black_box(&db), Path::new("ptbxl_database.csv")).unwrap();
            let scp = Table::parse(black_box(&scp), Path::new("scp_statements.csv")).unwrap();
            let ds =
                PtbxlDataset::from_tables(Path::new("."), PtbxlRate::Hz500, &db, &scp).unwrap();
            assert_eq!(ds.len(), N_RECORDS);
        })
    });

    // A folder of 20,000 (empty) headers with labels.csv: opening lists the folder and reads
    // labels.csv only.
    let tmp = tempfile::tempdir().unwrap();
    let mut labels = String::from("id,labels,fold,age,sex\n");
    for i in 0..N_RECORDS {
        std::fs::write(tmp.path().join(format!("synth_{i:05}.hea")), b"").unwrap();
        labels.push_str(&format!(
            "synth_{i:05},MI STTC,{},{},F\n",
            i % 10,
            30 + i % 50
        ));
    }
    std::fs::write(tmp.path().join("labels.csv"), labels).unwrap();
    c.bench_function("folder_index_20000_records", |b| {
        b.iter(|| {
            let ds = FolderDataset::open(black_box(tmp.path())).unwrap();
            assert_eq!(ds.len(), N_RECORDS);
        })
    });

    // A CODE-15%-layout file declaring 20,000 tracings (chunks never written, so the file is
    // small) and its exams.csv.
    let h5 = tmp.path().join("exams_part0.hdf5");
    {
        let file = hdf5::File::create(&h5).unwrap();
        file.new_dataset::<f32>()
            .chunk((1, 4096, 12))
            .shape((N_RECORDS, 4096, 12))
            .create("tracings")
            .unwrap();
        let ids = ndarray::Array1::from_iter(0..N_RECORDS as i64);
        file.new_dataset_builder()
            .with_data(&ids)
            .create("exam_id")
            .unwrap();
    }
    let mut exams = String::from(
        "exam_id,age,is_male,nn_predicted_age,1dAVb,RBBB,LBBB,SB,AF,ST,patient_id,normal_ecg,death,timey,trace_file\n",
    );
    for i in 0..N_RECORDS {
        exams.push_str(&format!("{i},{},True,50.1,False,{},False,False,False,False,{i},True,False,1.5,exams_part0.hdf5\n", 20 + i % 60, i % 3 == 0));
    }
    std::fs::write(tmp.path().join("exams.csv"), exams).unwrap();
    c.bench_function("code15_index_20000_exams", |b| {
        b.iter(|| {
            let ds = Code15Dataset::open(black_box(&h5)).unwrap();
            assert_eq!(ds.len(), N_RECORDS);
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench_index
}
criterion_main!(benches);
