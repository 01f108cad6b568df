/**
 * Prompt templates for zero-shot classification, `{}` where the class name goes (zeroShotPrompts):
 * the 80 prompts of OpenAI's ImageNet evaluation (CLIP's Prompt_Engineering_for_ImageNet notebook, as
 * open_clip's zero_shot_metadata lists them, in its order) and the 7 of its recommended subset.
 */
export const OPENAI_IMAGENET_TEMPLATES: readonly string[] = Object.freeze([
  'a bad photo of a {}.', 'a photo of many {}.', 'a sculpture of a {}.', 'a photo of the hard to see {}.',
  'a low resolution photo of the {}.', 'a rendering of a {}.', 'graffiti of a {}.', 'a bad photo of the {}.',
  'a cropped photo of the {}.', 'a tattoo of a {}.', 'the embroidered {}.', 'a photo of a hard to see {}.',
  'a bright photo of a {}.', 'a photo of a clean {}.', 'a photo of a dirty {}.', 'a dark photo of the {}.',
  'a drawing of a {}.', 'a photo of my {}.', 'the plastic {}.', 'a photo of the cool {}.',
  'a close-up photo of a {}.', 'a black and white photo of the {}.', 'a painting of the {}.', 'a painting of a {}.',
  'a pixelated photo of the {}.', 'a sculpture of the {}.', 'a bright photo of the {}.', 'a cropped photo of a {}.',
  'a plastic {}.', 'a photo of the dirty {}.', 'a jpeg corrupted photo of a {}.', 'a blurry photo of the {}.',
  'a photo of the {}.', 'a good photo of the {}.', 'a rendering of the {}.', 'a {} in a video game.',
  'a photo of one {}.', 'a doodle of a {}.', 'a close-up photo of the {}.', 'a photo of a {}.', 'the origami {}.',
  'the {} in a video game.', 'a sketch of a {}.', 'a doodle of the {}.', 'a origami {}.',
  'a low resolution photo of a {}.', 'the toy {}.', 'a rendition of the {}.', 'a photo of the clean {}.',
  'a photo of a large {}.', 'a rendition of a {}.', 'a photo of a nice {}.', 'a photo of a weird {}.',
  'a blurry photo of a {}.', 'a cartoon {}.', 'art of a {}.', 'a sketch of the {}.', 'a embroidered {}.',
  'a pixelated photo of a {}.', 'itap of the {}.', 'a jpeg corrupted photo of the {}.', 'a good photo of a {}.',
  'a plushie {}.', 'a photo of the nice {}.', 'a photo of the small {}.', 'a photo of the weird {}.',
  'the cartoon {}.', 'art of the {}.', 'a drawing of the {}.', 'a photo of the large {}.',
  'a black and white photo of a {}.', 'the plushie {}.', 'a dark photo of a {}.', 'itap of a {}.',
  'graffiti of the {}.', 'a toy {}.', 'itap of my {}.', 'a photo of a cool {}.', 'a photo of a small {}.',
  'a tattoo of the {}.',
]);

export const SIMPLE_IMAGENET_TEMPLATES: readonly string[] = Object.freeze([
  'itap of a {}.', 'a bad photo of the {}.', 'a origami {}.', 'a photo of the large {}.', 'a {} in a video game.',
  'art of the {}.', 'a photo of the small {}.',
]);

/** The template sets by name (`omnitok eval / classify --templates openai`). */
export const PROMPT_TEMPLATE_SETS: Readonly<Record<string, readonly string[]>> = Object.freeze({ openai: OPENAI_IMAGENET_TEMPLATES, simple: SIMPLE_IMAGENET_TEMPLATES });
