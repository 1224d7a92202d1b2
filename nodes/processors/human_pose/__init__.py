"""Human pose as OpenPose-style skeleton images: RT-DETR finds people, ViTPose finds their
keypoints, and the skeletons are drawn on the device."""
