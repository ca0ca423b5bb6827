//! Learning-rate groups: a ViT encoder stepped at its own share of the learning rate (`encoder_lr_scale`), decayed
//! layer by layer from the top (`layer_decay`, as in BEiT/TerraTorch fine-tuning recipes): block `i` of `L` at
//! `scale · decay^(L − i)`, the patch embedding, cls token, position and coordinate encodings at
//! `scale · decay^(L + 1)`, the final norm at `scale`. Every other parameter (the decoder, the head) takes the base
//! rate.

use std::collections::HashSet;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use eoforge_models::Vit;

use crate::config::FitConfig;

/// Parameter groups and their share of the learning rate.
pub type LrGroups = Vec<(f64, Vec<ParamId>)>;

/// The encoder's groups for `config` (none when neither setting is given).
pub(crate) fn vit_groups<B: Backend>(encoder: &Vit<B>, config: &FitConfig) -> LrGroups {
    if config.encoder_lr_scale.is_none() && config.layer_decay.is_none() {
        return Vec::new();
    }
    let scale = config.encoder_lr_scale.unwrap_or(1.0);
    let decay = config.layer_decay.unwrap_or(1.0);
    let depth = encoder.blocks.len();
    let power = |n: usize| decay.powi(i32::try_from(n).unwrap_or(i32::MAX));
    let mut stem = ids(&encoder.patch_embed);
    stem.push(encoder.cls_token.id);
    stem.push(encoder.pos_embed.id);
    if let Some(e) = &encoder.temporal_embed_enc {
        stem.extend(ids(e));
    }
    if let Some(e) = &encoder.location_embed_enc {
        stem.extend(ids(e));
    }
    let mut groups = vec![(scale * power(depth + 1), stem)];
    for (i, block) in encoder.blocks.iter().enumerate() {
        groups.push((scale * power(depth - i), ids(block)));
    }
    groups.push((scale, ids(&encoder.norm)));
    groups
}

/// The ids of every float parameter of `module`.
fn ids<B: Backend, M: Module<B>>(module: &M) -> Vec<ParamId> {
    struct Ids(Vec<ParamId>);
    impl<B: Backend> ModuleVisitor<B> for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.push(param.id);
        }
    }
    let mut visitor = Ids(Vec::new());
    module.visit(&mut visitor);
    visitor.0
}

/// Moves the gradients of `group`'s parameters out of `grads` into their own set.
pub(crate) fn take_group<B: AutodiffBackend, M: Module<B>>(
    model: &M,
    grads: &mut GradientsParams,
    group: &[ParamId],
) -> GradientsParams {
    struct Split<'a> {
        from: &'a mut GradientsParams,
        to: GradientsParams,
        ids: HashSet<ParamId>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Split<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if self.ids.contains(&param.id)
                && let Some(grad) = self.from.remove::<B::InnerBackend, D>(param.id)
            {
                self.to.register::<B::InnerBackend, D>(param.id, grad);
            }
        }
    }
    let mut split = Split { from: grads, to: GradientsParams::new(), ids: group.iter().copied().collect() };
    model.visit(&mut split);
    split.to
}
