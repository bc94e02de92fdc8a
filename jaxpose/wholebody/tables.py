"""Every constant of OpenPose's hand and face stages, in one place (features doc §1, §2).

Keypoint names, colours, render pairs and render thresholds of the hand and face networks live in
`jaxpose.specs.HAND` / `jaxpose.specs.FACE`; the numbers here are those of the rectangle detectors,
the processing conditions and the OpenCV face detector.
"""

from __future__ import annotations

# §1.2 hand rectangle from body keypoints (src/openpose/hand/handDetector.cpp).
HAND_SCORE_THRESHOLD = 0.03  # wrist, elbow and shoulder must all score strictly above this
HAND_WRIST_ELBOW_RATIO = 0.33  # centre = wrist + ratio * (wrist - elbow)
HAND_SIZE_FACTOR = 1.5  # side = factor * max(|W - E|, ratio * |E - S|)
HAND_ELBOW_SHOULDER_RATIO = 0.9
# Body parts used for each side, in the order (wrist, elbow, shoulder); index 0 = left, 1 = right.
HAND_BODY_PARTS = (("LWrist", "LElbow", "LShoulder"), ("RWrist", "RElbow", "RShoulder"))
HAND_MIRRORED = (True, False)  # the left-hand crop is flipped so the net always sees a right hand

# §1.5 hand processing condition: min(w, h) > 1 and w * h > 10 (pixels).
HAND_MIN_SIDE = 1.0
HAND_MIN_AREA = 10.0

# §2.2 face rectangle from body keypoints (src/openpose/face/faceDetector.cpp).
FACE_SCORE_THRESHOLD = 0.25
FACE_HEAD_NECK_FACTOR = 1.33  # MPI-like: side = factor * |Neck - Head|
FACE_PROFILE_FACTOR = 0.85  # profile: side += factor * (|N - Eye| + |N - Ear| + |Neck - N|)
FACE_NECK_NOSE_FACTOR = 2.0
FACE_EYES_FACTOR = 3.0
FACE_EARS_FACTOR = 2.0
# Names looked up in the body model; the first name present wins (MPI has only "Head").
FACE_NECK = ("Neck",)
FACE_NOSE = ("Nose", "Head")
FACE_LEAR = ("LEar", "Head")
FACE_REAR = ("REar", "Head")
FACE_LEYE = ("LEye", "Head")
FACE_REYE = ("REye", "Head")

# §2.4 face processing condition: min(w, h) > 40 pixels.
FACE_MIN_SIDE = 40.0

# §2.3 OpenCV face detector (src/openpose/face/faceDetectorOpenCV.cpp).
OPENCV_CASCADE_FILE = "haarcascade_frontalface_alt.xml"  # from cv2.data.haarcascades
OPENCV_MAX_PIXELS = 640 * 360  # pyrDown while cols * rows is larger
OPENCV_SCALE_FACTOR = 1.2
OPENCV_MIN_NEIGHBORS = 3
OPENCV_ENLARGE = 1.5  # (x - 0.25 w, y - 0.25 h, 1.5 w, 1.5 h)

# §1.7 multi-scale hands: defaults of --hand_scale_number / --hand_scale_range.
HAND_SCALE_NUMBER = 1
HAND_SCALE_RANGE = 0.4

# Net input sides: --hand_net_resolution / --face_net_resolution (square, multiple of 16).
NET_RESOLUTION = 368
NET_RESOLUTION_MULTIPLE = 16
