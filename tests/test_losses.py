import torch
import torch.nn.functional as F

from elec.distill.losses import RepresentationDistillation, score_distillation


def test_score_distillation_is_zero_when_student_equals_teacher():
    logits = torch.randn(64)
    for temperature in (1.0, 2.0):
        assert abs(score_distillation(logits, logits, temperature).item()) < 1e-6


def test_score_distillation_is_positive_otherwise_and_has_the_soft_bce_gradient():
    teacher = torch.randn(64)
    student = torch.randn(64, requires_grad=True)
    loss = score_distillation(student, teacher)
    assert loss.item() > 0
    loss.backward()
    reference = student.detach().clone().requires_grad_()
    F.binary_cross_entropy_with_logits(reference, teacher.sigmoid()).backward()
    torch.testing.assert_close(student.grad, reference.grad)


def test_teacher_gets_no_gradient():
    teacher = torch.randn(8, requires_grad=True)
    score_distillation(torch.randn(8, requires_grad=True), teacher).backward()
    assert teacher.grad is None


def test_representation_distillation_zero_when_equal_and_maps_different_widths():
    same = RepresentationDistillation(16, 16)
    r = torch.randn(4, 16)
    assert same(r, r).item() == 0.0
    mapped = RepresentationDistillation(16, 24)
    assert mapped(r, torch.randn(4, 24)).item() > 0
    assert sum(p.numel() for p in mapped.parameters()) == 16 * 24
