//! AdamW (Loshchilov & Hutter; PyTorch's `torch.optim.AdamW` update) over named variables,
//! with its state readable and writable, so that a training run can stop after any epoch and
//! resume exactly where it stopped.
//!
//! Why not candle-nn's `AdamW`: its moments are private, so a resumed run would restart them
//! from zero (a different, noisier trajectory than the uninterrupted run).

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

/// AdamW settings (PyTorch's defaults but the learning rate and weight decay).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWParams {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl AdamWParams {
    pub fn new(lr: f64, weight_decay: f64) -> Self {
        AdamWParams {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        }
    }
}

struct Slot {
    name: String,
    var: Var,
    first_moment: Var,
    second_moment: Var,
}

/// The optimizer: one slot per trainable floating-point variable, in name order.
pub struct AdamW {
    slots: Vec<Slot>,
    step: usize,
    params: AdamWParams,
}

/// Prefixes of the moment tensors in [`AdamW::state`].
const FIRST: &str = "adamw.m.";
const SECOND: &str = "adamw.v.";

impl AdamW {
    /// Over `vars` (name, variable); names sorted so that the state's order never depends on a
    /// hash map's.
    pub fn new(mut vars: Vec<(String, Var)>, params: AdamWParams) -> Result<Self> {
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = vars
            .into_iter()
            .filter(|(_, v)| v.dtype().is_float())
            .map(|(name, var)| {
                let zeros = || Var::zeros(var.shape(), var.dtype(), var.device());
                Ok(Slot {
                    name,
                    first_moment: zeros()?,
                    second_moment: zeros()?,
                    var,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AdamW {
            slots,
            step: 0,
            params,
        })
    }

    pub fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }

    /// Steps taken so far.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// Back-propagates `loss` and applies one update to every variable that got a gradient
    /// (batch-norm running statistics get none and are left alone).
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let AdamWParams {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.params;
        let t = self.step as i32;
        let scale_m = 1.0 / (1.0 - beta1.powi(t));
        let scale_v = 1.0 / (1.0 - beta2.powi(t));
        for slot in &self.slots {
            let theta = slot.var.as_tensor();
            let Some(g) = grads.get(theta) else {
                continue;
            };
            let m = ((slot.first_moment.as_tensor() * beta1)? + (g * (1.0 - beta1))?)?;
            let v = ((slot.second_moment.as_tensor() * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let m_hat = (&m * scale_m)?;
            let v_hat = (&v * scale_v)?;
            let decayed = (theta * (1.0 - lr * weight_decay))?;
            let update = (m_hat / (v_hat.sqrt()? + eps)?)?;
            let next = (decayed - (update * lr)?)?;
            slot.first_moment.set(&m)?;
            slot.second_moment.set(&v)?;
            slot.var.set(&next)?;
        }
        Ok(())
    }

    /// The moments as named tensors (`adamw.m.<var>`, `adamw.v.<var>`), copies.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(2 * self.slots.len());
        for slot in &self.slots {
            out.push((
                format!("{FIRST}{}", slot.name),
                slot.first_moment.as_tensor().copy()?,
            ));
            out.push((
                format!("{SECOND}{}", slot.name),
                slot.second_moment.as_tensor().copy()?,
            ));
        }
        Ok(out)
    }

    /// Restores moments written by [`Self::state`] and the step count. Every slot's two
    /// moments must be present with its shape.
    pub fn load_state(
        &mut self,
        tensors: &std::collections::HashMap<String, Tensor>,
        step: usize,
    ) -> Result<()> {
        for slot in &self.slots {
            for (prefix, moment) in [(FIRST, &slot.first_moment), (SECOND, &slot.second_moment)] {
                let name = format!("{prefix}{}", slot.name);
                let Some(t) = tensors.get(&name) else {
                    candle_core::bail!("optimizer state: {name} is missing");
                };
                if t.shape() != moment.shape() {
                    candle_core::bail!(
                        "optimizer state: {name} has shape {:?}, the variable {:?}",
                        t.shape(),
                        moment.shape()
                    );
                }
                moment.set(&t.to_dtype(moment.dtype())?.to_device(moment.device())?)?;
            }
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// Two steps by hand (PyTorch's AdamW formula) on f(w) = sum(w^2).
    #[test]
    fn adamw_matches_the_formula_by_hand() -> Result<()> {
        let w = Var::new(&[1.0f32, -2.0], &Device::Cpu)?;
        let p = AdamWParams::new(0.1, 0.01);
        let mut opt = AdamW::new(vec![("w".into(), w.clone())], p)?;
        let (mut theta, mut m, mut v) = ([1.0f64, -2.0], [0.0f64; 2], [0.0f64; 2]);
        for t in 1..=2 {
            opt.backward_step(&w.as_tensor().sqr()?.sum_all()?)?;
            for i in 0..2 {
                let g = 2.0 * theta[i];
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                let m_hat = m[i] / (1.0 - 0.9f64.powi(t));
                let v_hat = v[i] / (1.0 - 0.999f64.powi(t));
                theta[i] = theta[i] * (1.0 - 0.1 * 0.01) - 0.1 * m_hat / (v_hat.sqrt() + 1e-8);
            }
        }
        let got = w.as_tensor().to_vec1::<f32>()?;
        for (g, want) in got.iter().zip(theta) {
            assert!((*g as f64 - want).abs() < 1e-5, "{got:?} vs {theta:?}");
        }
        Ok(())
    }

    /// Saving the state after one step and loading it into a fresh optimizer gives the same
    /// second step as the uninterrupted run.
    #[test]
    fn a_restored_state_continues_the_same_trajectory() -> Result<()> {
        let dev = Device::Cpu;
        let loss = |w: &Var| -> Result<Tensor> { (w.as_tensor() - 3.0)?.sqr()?.sum_all() };
        let p = AdamWParams::new(0.05, 0.0);
        let a = Var::new(&[0.5f32, 1.5, -1.0], &dev)?;
        let mut opt_a = AdamW::new(vec![("a".into(), a.clone())], p)?;
        opt_a.backward_step(&loss(&a)?)?;
        let state: std::collections::HashMap<_, _> = opt_a.state()?.into_iter().collect();
        let b = Var::from_tensor(&a.as_tensor().copy()?)?;
        let mut opt_b = AdamW::new(vec![("a".into(), b.clone())], p)?;
        opt_b.load_state(&state, opt_a.steps())?;
        opt_a.backward_step(&loss(&a)?)?;
        opt_b.backward_step(&loss(&b)?)?;
        assert_eq!(
            a.as_tensor().to_vec1::<f32>()?,
            b.as_tensor().to_vec1::<f32>()?
        );
        // A missing moment is refused.
        let mut opt_c = AdamW::new(vec![("other".into(), Var::zeros(3, DType::F32, &dev)?)], p)?;
        assert!(opt_c.load_state(&state, 1).is_err());
        Ok(())
    }
}
