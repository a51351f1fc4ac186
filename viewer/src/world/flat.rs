//! The flat material every mesh of the scene uses: base colour × texture × vertex colour,
//! unlit, with a fragment shader of a few instructions (`flat.wgsl`).
//!
//! Why not `StandardMaterial { unlit: true }`: its fragment shader is Bevy's whole PBR shader,
//! and a software rasteriser such as lavapipe runs it on every pixel, unlit branch or not (it
//! executes both sides of a branch under a lane mask). The scene is lit by nothing (colours are
//! data, true to the legends; the terrain's hillshade is baked into its vertex colours), so the
//! flat shader draws the same picture for a fraction of the per-pixel work.

use bevy::asset::uuid_handle;
use bevy::mesh::MeshVertexBufferLayoutRef;
use bevy::pbr::{Material, MaterialPipeline, MaterialPipelineKey, MaterialPlugin};
use bevy::prelude::*;
use bevy::render::render_resource::{
    AsBindGroup, RenderPipelineDescriptor, SpecializedMeshPipelineError,
};
use bevy::shader::{Shader, ShaderRef};

/// The shader's handle (inserted into `Assets<Shader>` by [`FlatMaterialPlugin`]).
const FLAT_SHADER: Handle<Shader> = uuid_handle!("6d0c5c1e-4b7a-4f59-9a43-0b8e2f6a91d3");

/// Unlit colour: `colour` × `texture` (sampled at the mesh's UVs; white when none) × the
/// mesh's vertex colours (when it has them). Both faces are drawn.
#[derive(Debug, Clone, Asset, TypePath, AsBindGroup)]
pub struct FlatMaterial {
    /// Base colour (linear in the shader; give it in any `Color` space).
    #[uniform(0)]
    pub colour: LinearRgba,
    /// Colour texture.
    #[texture(1)]
    #[sampler(2)]
    pub texture: Option<Handle<Image>>,
    /// Opaque, or blended over what is behind.
    pub alpha_mode: AlphaMode,
}

impl FlatMaterial {
    /// An opaque material of one colour.
    pub fn colour(c: Color) -> Self {
        Self {
            colour: c.into(),
            texture: None,
            alpha_mode: AlphaMode::Opaque,
        }
    }
}

impl Material for FlatMaterial {
    fn fragment_shader() -> ShaderRef {
        FLAT_SHADER.into()
    }

    fn alpha_mode(&self) -> AlphaMode {
        self.alpha_mode
    }

    // nothing casts or receives shadows, and no prepass is used
    fn enable_prepass() -> bool {
        false
    }

    fn enable_shadows() -> bool {
        false
    }

    fn specialize(
        _pipeline: &MaterialPipeline,
        descriptor: &mut RenderPipelineDescriptor,
        _layout: &MeshVertexBufferLayoutRef,
        _key: MaterialPipelineKey<Self>,
    ) -> Result<(), SpecializedMeshPipelineError> {
        // the overlay is seen from below when the camera dips under the terrain's edge; the
        // markers are closed, so drawing back faces only costs their hidden side
        descriptor.primitive.cull_mode = None;
        Ok(())
    }
}

/// Registers [`FlatMaterial`] and its shader.
pub struct FlatMaterialPlugin;

impl Plugin for FlatMaterialPlugin {
    fn build(&self, app: &mut App) {
        app.world_mut()
            .resource_mut::<Assets<Shader>>()
            .insert(
                FLAT_SHADER.id(),
                Shader::from_wgsl(include_str!("flat.wgsl"), "viewer/src/world/flat.wgsl"),
            )
            .expect("a fixed shader handle");
        app.init_resource::<Palette>()
            .add_plugins(MaterialPlugin::<FlatMaterial>::default());
    }
}

/// One [`FlatMaterial`] per colour, shared: markers of one mesh and one colour then share a
/// material and Bevy draws them as instances of one draw (a material per marker made one draw
/// call per station, which a software rasteriser pays for draw by draw).
/// Its materials are shared, so they are never changed in place: a marker is recoloured by
/// swapping its handle for the palette's material of the new colour.
#[derive(Debug, Default, Resource)]
pub struct Palette(std::collections::HashMap<[u32; 4], Handle<FlatMaterial>>);

impl Palette {
    /// The shared opaque material of colour `c` (made on first use).
    pub fn get(&mut self, materials: &mut Assets<FlatMaterial>, c: Color) -> Handle<FlatMaterial> {
        let l = LinearRgba::from(c);
        let key = [l.red, l.green, l.blue, l.alpha].map(f32::to_bits);
        self.0
            .entry(key)
            .or_insert_with(|| materials.add(FlatMaterial::colour(c)))
            .clone()
    }

    /// The shared material of `aqi`'s VN_AQI colour (the no-data colour for `None`).
    pub fn aqi(
        &mut self,
        materials: &mut Assets<FlatMaterial>,
        aqi: Option<i64>,
    ) -> Handle<FlatMaterial> {
        let c = crate::colormap::aqi(aqi);
        self.get(materials, Color::srgb(c[0], c[1], c[2]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_palette_shares_one_material_per_colour() {
        let mut materials = Assets::<FlatMaterial>::default();
        let mut p = Palette::default();
        let a = p.get(&mut materials, Color::srgb(0.0, 0.89, 0.0));
        let b = p.get(&mut materials, Color::srgb(0.0, 0.89, 0.0));
        let c = p.get(&mut materials, Color::srgb(1.0, 1.0, 0.0));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!((p.0.len(), materials.len()), (2, 2));
        let m = materials.get(&c).expect("added");
        assert_eq!(m.colour, LinearRgba::from(Color::srgb(1.0, 1.0, 0.0)));
        assert_eq!(m.alpha_mode, AlphaMode::Opaque);
    }
}
