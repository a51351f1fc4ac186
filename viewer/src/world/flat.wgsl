// The viewer's flat (unlit) material: base colour × texture (where the mesh has UVs) × vertex
// colour (where it has colours). Nothing else per fragment — no lights, shadows, fog or
// clustered lookups — since a software rasteriser (lavapipe) pays for every instruction of a
// fragment shader on every pixel, taken branches or not.

#import bevy_pbr::forward_io::VertexOutput

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> base_colour: vec4<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(1) var colour_texture: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(2) var colour_sampler: sampler;

@fragment
fn fragment(mesh: VertexOutput) -> @location(0) vec4<f32> {
    var c = base_colour;
#ifdef VERTEX_UVS_A
    c = c * textureSample(colour_texture, colour_sampler, mesh.uv);
#endif
#ifdef VERTEX_COLORS
    c = c * mesh.color;
#endif
    return c;
}
