"""The galaxy detector: torchvision's Mask R-CNN, set up for galaxies.

Farias et al. (2020) used Matterport's Mask R-CNN with a COCO-pretrained
ResNet-101. Here the network is torchvision's
:class:`~torchvision.models.detection.MaskRCNN`, split by stage as torchvision
does (backbone + FPN -> RPN -> RoI heads: box, class, mask), with what differs
for galaxies:

* **Backbones**: ``resnet50`` / ``resnet101`` with an FPN, as the paper, or
  ``lean``: a small residual network (four stages of torchvision BasicBlocks)
  with a narrow FPN that trains from scratch on a CPU. No pretrained weights are
  downloaded anywhere: every backbone starts from random weights (BatchNorm
  trainable, not frozen, since nothing was pretrained).
* **Anchors** of 8-128 px (the paper's), one size per FPN level, ratios 0.5/1/2.
* **No resizing**: torchvision resizes inputs to 800 px; galaxies are measured
  in the input's pixels, so images go in at their own scale (the caller brings
  them to the training pixel scale, :mod:`galseg.predict.detect`).
* **One class per object**: torchvision's box predictor proposes every class of
  every box separately and suppresses per class, so one galaxy can come back as a
  spiral *and* an elliptical. Here each proposal keeps its most probable
  foreground class, suppression is across classes, and each detection carries the
  full class probability vector (``class_probs``) from which ``p_spiral`` comes.

Tensor contract (eval mode), per image, as torchvision's: input a float (3, H, W)
tensor in [0, 1]; output a dict with ``boxes`` (N, 4) ``x0, y0, x1, y1`` in input
pixels, ``labels`` (N,) int64 in 1..C (``DETECTION_CLASSES[label - 1]``),
``scores`` (N,), ``masks`` (N, 1, H, W) probabilities, and ``class_probs`` (N, C)
foreground class probabilities renormalised to sum to 1. Training mode takes
targets ``boxes``, ``labels``, ``masks`` (N, H, W uint8) and returns the loss dict.
With ``model.transform.paste_masks = False`` the ``masks`` stay the mask head's
(N, 1, M, M) probabilities; :func:`paste_mask_crops` then gives each one's pasted
window alone, equal to the same window of the full mask (a crowded tile's hundred
full-tile masks cost more than the mask head itself). ``model.roi_heads.min_box_side``
(default 0) drops detections whose box's longer side is shorter, before the mask head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN, resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.roi_heads import (
    RoIHeads,
    expand_boxes,
    expand_masks,
    paste_masks_in_image,
)
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import boxes as box_ops

from galseg.models.configs import BACKBONES, PAPER_DETECTOR_CONFIG, DetectorConfig


class _LeanResNet(nn.Module):
    """Stem (stride 2) and four residual stages; children named for ``BackboneWithFPN``."""

    def __init__(self, widths: tuple[int, ...], blocks: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        in_channels = widths[0]
        for i, width in enumerate(widths):
            stride = 2  # strides 4, 8, 16, 32 after the stem
            downsample = nn.Sequential(nn.Conv2d(in_channels, width, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(width))
            layers = [resnet.BasicBlock(in_channels, width, stride=stride, downsample=downsample)]
            layers += [resnet.BasicBlock(width, width) for _ in range(blocks - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))
            in_channels = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # unused: BackboneWithFPN calls stages
        x = self.stem(x)
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
        return x


def _backbone(config: DetectorConfig) -> nn.Module:
    if config.backbone == "lean":
        body = _LeanResNet(config.lean_widths, config.lean_blocks)
        return BackboneWithFPN(body, {f"layer{i + 1}": str(i) for i in range(4)},
                               list(config.lean_widths), config.fpn_channels)
    # From scratch: trainable BatchNorm (torchvision's default FrozenBatchNorm2d only makes
    # sense with pretrained statistics) and every layer trainable.
    backbone = resnet_fpn_backbone(backbone_name=config.backbone, weights=None,
                                   norm_layer=nn.BatchNorm2d, trainable_layers=5)
    if config.fpn_channels != backbone.out_channels:
        raise ValueError(f"the {config.backbone} FPN has {backbone.out_channels} channels")
    return backbone


MASK_PASTE_SHIFT = 0.5
"""Pixels right and down by which each mask is pasted into its box (see
:meth:`_FixedScaleTransform.postprocess`)."""


def paste_mask_crops(masks: torch.Tensor, boxes: torch.Tensor, image_shape: tuple[int, int]
                     ) -> list[tuple[torch.Tensor, tuple[int, int]]]:
    """Each mask pasted as torchvision's ``paste_masks_in_image`` pastes it, but only
    the window it is pasted into.

    Parameters
    ----------
    masks : Tensor (N, 1, M, M)
        Mask-head probabilities.
    boxes : Tensor (N, 4)
        Where to paste them (``x0, y0, x1, y1``; the boxes plus :data:`MASK_PASTE_SHIFT`
        for this model), in the image's pixels.
    image_shape : (H, W)

    Returns
    -------
    list of (Tensor (h, w), (y0, x0))
        Each window and its first pixel; the full mask is zero outside it.
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    if not len(masks):
        return []
    padded, scale = expand_masks(masks, padding=1)
    corners = expand_boxes(boxes, scale).to(dtype=torch.int64).tolist()
    out = []
    for mask, (x0, y0, x1, y1) in zip(padded, corners, strict=True):
        size = (max(y1 - y0 + 1, 1), max(x1 - x0 + 1, 1))
        resized = F.interpolate(mask[None], size=size, mode="bilinear",
                                align_corners=False)[0, 0]
        top, left = max(y0, 0), max(x0, 0)
        bottom, right = max(min(y1 + 1, height), top), max(min(x1 + 1, width), left)
        out.append((resized[top - y0:bottom - y0, left - x0:right - x0], (top, left)))
    return out


class _FixedScaleTransform(GeneralizedRCNNTransform):
    """Normalise and batch, but never resize: pixels are kept as the caller gives them.

    ``paste_masks`` (default True): paste the masks into full images (module docstring).
    """

    paste_masks = True

    def resize(self, image: torch.Tensor, target: dict[str, torch.Tensor] | None = None
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        return image, target

    def postprocess(self, result: list[dict[str, torch.Tensor]],
                    image_shapes: list[tuple[int, int]],
                    original_image_sizes: list[tuple[int, int]]) -> list[dict[str, torch.Tensor]]:
        """Paste each mask into its box moved by half a pixel right and down.

        torchvision makes the mask targets with ``roi_align(aligned=False)``, which reads
        a box in coordinates where pixel *centres* are whole numbers, but pastes the
        predictions back as if pixel *edges* were, which puts every mask half a pixel up
        and left of where it was learned (a truth mask taken through both steps moves
        by -0.50 px in x and y on 300 GZ1 masks; with +0.5 px here by 0.00, and its IoU
        with itself is 0.965 instead of 0.956). The boxes are left as predicted.
        """
        if self.training or not self.paste_masks:
            return result
        for pred, shape in zip(result, original_image_sizes, strict=True):
            if "masks" in pred:
                pred["masks"] = paste_masks_in_image(pred["masks"],
                                                     pred["boxes"] + MASK_PASTE_SHIFT, shape)
        return result


class _OneClassRoIHeads(RoIHeads):
    """RoI heads whose detections keep one class each, with the class probabilities.

    ``min_box_side``: detections whose box's longer side is shorter than this (input
    pixels of the network) are dropped here, before the mask head runs on them.
    """

    min_box_side = 0.0

    def postprocess_detections(self, class_logits, box_regression, proposals, image_shapes):
        boxes_per_image = [len(p) for p in proposals]
        probabilities = F.softmax(class_logits, -1)
        foreground = probabilities[:, 1:]
        best = foreground.argmax(dim=1)
        scores = foreground.gather(1, best[:, None])[:, 0]
        labels = best + 1
        # Decode only the chosen class's box.
        deltas = box_regression.reshape(len(box_regression), class_logits.shape[-1], 4)
        chosen = deltas[torch.arange(len(deltas), device=deltas.device), labels]
        boxes = self.box_coder.decode(chosen, proposals).reshape(-1, 4)
        class_probs = foreground / foreground.sum(dim=1, keepdim=True).clamp_min(1e-12)

        out_boxes, out_scores, out_labels, out_probs = [], [], [], []
        for b, s, lab, p, shape in zip(boxes.split(boxes_per_image), scores.split(boxes_per_image),
                                       labels.split(boxes_per_image),
                                       class_probs.split(boxes_per_image), image_shapes,
                                       strict=True):
            b = box_ops.clip_boxes_to_image(b, shape)
            keep = torch.where(s > self.score_thresh)[0]
            keep = keep[box_ops.remove_small_boxes(b[keep], min_size=1e-2)]
            if self.min_box_side > 0:
                sides = torch.maximum(b[keep, 2] - b[keep, 0], b[keep, 3] - b[keep, 1])
                keep = keep[sides >= self.min_box_side]
            keep = keep[box_ops.nms(b[keep], s[keep], self.nms_thresh)][: self.detections_per_img]
            out_boxes.append(b[keep])
            out_scores.append(s[keep])
            out_labels.append(lab[keep])
            out_probs.append(p[keep])
        self._class_probs = out_probs  # read back by GalaxyMaskRCNN.forward
        return out_boxes, out_scores, out_labels


class GalaxyMaskRCNN(MaskRCNN):
    """torchvision Mask R-CNN with one class per detection (module docstring)."""

    def __init__(self, config: DetectorConfig) -> None:
        n_classes = len(config.classes) + 1
        anchors = AnchorGenerator(sizes=tuple((s,) for s in config.anchor_sizes),
                                  aspect_ratios=(config.aspect_ratios,) * len(config.anchor_sizes))
        backbone = _backbone(config)
        channels = backbone.out_channels
        box_head = TwoMLPHead(channels * 7 * 7, config.box_head_dim)
        mask_head = MaskRCNNHeads(channels, [config.mask_head_channels] * config.mask_head_layers,
                                  dilation=1)
        super().__init__(
            backbone, num_classes=None, rpn_anchor_generator=anchors,
            rpn_nms_thresh=config.rpn_nms, box_head=box_head,
            box_predictor=FastRCNNPredictor(config.box_head_dim, n_classes),
            mask_head=mask_head,
            mask_predictor=MaskRCNNPredictor(config.mask_head_channels,
                                             config.mask_head_channels, n_classes),
            box_batch_size_per_image=config.rois_per_image, box_nms_thresh=config.box_nms,
            box_detections_per_img=config.detections_per_image,
            box_score_thresh=config.score_threshold)
        heads = self.roi_heads
        self.roi_heads = _OneClassRoIHeads(
            heads.box_roi_pool, heads.box_head, heads.box_predictor,
            0.5, 0.5, config.rois_per_image, 0.25, None,
            config.score_threshold, config.box_nms, config.detections_per_image,
            mask_roi_pool=heads.mask_roi_pool, mask_head=heads.mask_head,
            mask_predictor=heads.mask_predictor)
        # Survey pictures are mostly dark sky: centre and scale accordingly.
        self.transform = _FixedScaleTransform(min_size=1, max_size=1,
                                              image_mean=[0.1, 0.1, 0.1],
                                              image_std=[0.2, 0.2, 0.2])
        self.config = config

    def forward(self, images, targets=None):
        output = super().forward(images, targets)
        if self.training:
            return output
        for result, probs in zip(output, self.roi_heads._class_probs, strict=True):
            result["class_probs"] = probs
        return output


def build_detector(config: DetectorConfig = DetectorConfig()) -> GalaxyMaskRCNN:  # frozen default
    """A randomly initialised galaxy detector (no weights are ever downloaded)."""
    return GalaxyMaskRCNN(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["BACKBONES", "MASK_PASTE_SHIFT", "PAPER_DETECTOR_CONFIG", "DetectorConfig",
           "GalaxyMaskRCNN", "build_detector", "count_parameters", "paste_mask_crops"]
