"""Message tables for the protobuf decoder (`protobuf.py`): one entry per Kubernetes message, as data.

Each table is a string of whitespace-separated `number:jsonName[:type]` entries, in Go struct order
(which is also JSON field order). The field numbers and names are facts of the Kubernetes API, read
from the `generated.proto` files of k8s.io/api and k8s.io/apimachinery. Types:

    s  i32  i64  b  by  f64     string, int32, int64, bool, bytes (JSON base64), double; `s` if omitted
    q  ios  t  fv  xs           Quantity, IntOrString, Time, FieldsV1, ExtraValue
    Name                        another message of these tables
    []T    {}T    ^Name          repeated T; map<string, T>; Go-embedded (`json:",inline"`) message
    T!                          keep a zero scalar (a Go pointer, or a tag without `omitempty`)
    -                           a retired field older clients still send: accepted and dropped

`KINDS` maps each top-level (apiVersion, kind) to its message. The core group's tables live in
`protobuf_schemas_core.py`; this file has meta/v1 and the named groups.
"""

from __future__ import annotations

from prophet_sre.sim.protobuf_schemas_core import CORE_KINDS, CORE_MESSAGES

_OBJECT = "1:metadata:ObjectMeta"

META_MESSAGES: dict[str, str] = {
    # metav1: ObjectMeta's field 15 was clusterName (removed in 1.25), 16 initializers (removed in 1.14)
    "ObjectMeta": """
        1:name 2:generateName 3:namespace 4:selfLink 5:uid 6:resourceVersion 7:generation:i64
        8:creationTimestamp:t 9:deletionTimestamp:t 10:deletionGracePeriodSeconds:i64! 11:labels:{}s
        12:annotations:{}s 13:ownerReferences:[]OwnerReference 14:finalizers:[]s 15:clusterName:-
        16:initializers:- 17:managedFields:[]ManagedFieldsEntry
    """,
    "OwnerReference": """
        5:apiVersion:s! 1:kind:s! 3:name:s! 4:uid:s! 6:controller:b! 7:blockOwnerDeletion:b!
    """,
    "ManagedFieldsEntry": """
        1:manager 2:operation 3:apiVersion 4:time:t 6:fieldsType 7:fieldsV1:fv 8:subresource
    """,
    "LabelSelector": "1:matchLabels:{}s 2:matchExpressions:[]LabelSelectorRequirement",
    "LabelSelectorRequirement": "1:key:s! 2:operator:s! 3:values:[]s",
    "FieldSelectorRequirement": "1:key:s! 2:operator:s! 3:values:[]s",
    "Condition": """
        1:type:s! 2:status:s! 3:observedGeneration:i64 4:lastTransitionTime:t 5:reason:s! 6:message:s!
    """,
    "DeleteOptions": """
        1:gracePeriodSeconds:i64! 2:preconditions:Preconditions 3:orphanDependents:b! 4:propagationPolicy:s!
        5:dryRun:[]s 6:ignoreStoreReadErrorWithClusterBreakingPotential:b!
    """,
    "Preconditions": "1:uid:s! 2:resourceVersion:s!",
}

GROUP_MESSAGES: dict[str, str] = {
    # ---------------------------------------------------------------- apps/v1
    "Deployment": f"{_OBJECT} 2:spec:DeploymentSpec 3:status:DeploymentStatus",
    "DeploymentSpec": """
        1:replicas:i32! 2:selector:LabelSelector 3:template:PodTemplateSpec 4:strategy:DeploymentStrategy
        5:minReadySeconds:i32 6:revisionHistoryLimit:i32! 7:paused:b 9:progressDeadlineSeconds:i32!
    """,
    "DeploymentStrategy": "1:type 2:rollingUpdate:RollingUpdateDeployment",
    "RollingUpdateDeployment": "1:maxUnavailable:ios 2:maxSurge:ios",
    "DeploymentStatus": """
        1:observedGeneration:i64 2:replicas:i32 3:updatedReplicas:i32 7:readyReplicas:i32
        4:availableReplicas:i32 5:unavailableReplicas:i32 9:terminatingReplicas:i32!
        6:conditions:[]DeploymentCondition 8:collisionCount:i32!
    """,
    "DeploymentCondition": """
        1:type:s! 2:status:s! 6:lastUpdateTime:t 7:lastTransitionTime:t 4:reason 5:message
    """,
    "ReplicaSet": f"{_OBJECT} 2:spec:ReplicaSetSpec 3:status:ReplicaSetStatus",
    "ReplicaSetSpec": "1:replicas:i32! 4:minReadySeconds:i32 2:selector:LabelSelector 3:template:PodTemplateSpec",
    "ReplicaSetStatus": """
        1:replicas:i32! 2:fullyLabeledReplicas:i32 4:readyReplicas:i32 5:availableReplicas:i32
        7:terminatingReplicas:i32! 3:observedGeneration:i64 6:conditions:[]ReplicaSetCondition
    """,
    "ReplicaSetCondition": "1:type:s! 2:status:s! 3:lastTransitionTime:t 4:reason 5:message",
    # ---------------------------------------------------------------- batch/v1
    "Job": f"{_OBJECT} 2:spec:JobSpec 3:status:JobStatus",
    "JobSpec": """
        1:parallelism:i32! 2:completions:i32! 3:activeDeadlineSeconds:i64! 11:podFailurePolicy:PodFailurePolicy
        16:successPolicy:SuccessPolicy 7:backoffLimit:i32! 12:backoffLimitPerIndex:i32!
        13:maxFailedIndexes:i32! 4:selector:LabelSelector 5:manualSelector:b! 6:template:PodTemplateSpec
        8:ttlSecondsAfterFinished:i32! 9:completionMode:s! 10:suspend:b! 14:podReplacementPolicy:s!
        15:managedBy:s!
    """,
    "PodFailurePolicy": "1:rules:[]PodFailurePolicyRule",
    "PodFailurePolicyRule": """
        1:action:s! 2:onExitCodes:PodFailurePolicyOnExitCodesRequirement
        3:onPodConditions:[]PodFailurePolicyOnPodConditionsPattern
    """,
    "PodFailurePolicyOnExitCodesRequirement": "1:containerName:s! 2:operator:s! 3:values:[]i32",
    "PodFailurePolicyOnPodConditionsPattern": "1:type:s! 2:status",
    "SuccessPolicy": "1:rules:[]SuccessPolicyRule",
    "SuccessPolicyRule": "1:succeededIndexes:s! 2:succeededCount:i32!",
    "JobStatus": """
        1:conditions:[]JobCondition 2:startTime:t 3:completionTime:t 4:active:i32 5:succeeded:i32 6:failed:i32
        11:terminating:i32! 7:completedIndexes 10:failedIndexes:s! 8:uncountedTerminatedPods:UncountedTerminatedPods
        9:ready:i32!
    """,
    "JobCondition": """
        1:type:s! 2:status:s! 3:lastProbeTime:t 4:lastTransitionTime:t 5:reason 6:message
    """,
    "UncountedTerminatedPods": "1:succeeded:[]s 2:failed:[]s",
    "JobTemplateSpec": f"{_OBJECT} 2:spec:JobSpec",
    "CronJob": f"{_OBJECT} 2:spec:CronJobSpec 3:status:CronJobStatus",
    "CronJobSpec": """
        1:schedule:s! 8:timeZone:s! 2:startingDeadlineSeconds:i64! 3:concurrencyPolicy 4:suspend:b!
        5:jobTemplate:JobTemplateSpec 6:successfulJobsHistoryLimit:i32! 7:failedJobsHistoryLimit:i32!
    """,
    "CronJobStatus": "1:active:[]ObjectReference 4:lastScheduleTime:t 5:lastSuccessfulTime:t",
    # ---------------------------------------------------------------- rbac.authorization.k8s.io/v1
    "Role": f"{_OBJECT} 2:rules:[]PolicyRule",
    "ClusterRole": f"{_OBJECT} 2:rules:[]PolicyRule 3:aggregationRule:AggregationRule",
    "PolicyRule": "1:verbs:[]s 2:apiGroups:[]s 3:resources:[]s 4:resourceNames:[]s 5:nonResourceURLs:[]s",
    "AggregationRule": "1:clusterRoleSelectors:[]LabelSelector",
    "RoleBinding": f"{_OBJECT} 2:subjects:[]Subject 3:roleRef:RoleRef",
    "ClusterRoleBinding": f"{_OBJECT} 2:subjects:[]Subject 3:roleRef:RoleRef",
    "Subject": "1:kind:s! 2:apiGroup 3:name:s! 4:namespace",
    "RoleRef": "1:apiGroup:s! 2:kind:s! 3:name:s!",
    # ---------------------------------------------------------------- networking.k8s.io/v1
    "Ingress": f"{_OBJECT} 2:spec:IngressSpec 3:status:IngressStatus",
    "IngressSpec": "4:ingressClassName:s! 1:defaultBackend:IngressBackend 2:tls:[]IngressTLS 3:rules:[]IngressRule",
    "IngressBackend": "4:service:IngressServiceBackend 3:resource:TypedLocalObjectReference",
    "IngressServiceBackend": "1:name:s! 2:port:ServiceBackendPort",
    "ServiceBackendPort": "1:name 2:number:i32",
    "IngressTLS": "1:hosts:[]s 2:secretName",
    "IngressRule": "1:host 2:ingressRuleValue:^IngressRuleValue",
    "IngressRuleValue": "1:http:HTTPIngressRuleValue",
    "HTTPIngressRuleValue": "1:paths:[]HTTPIngressPath",
    "HTTPIngressPath": "1:path 3:pathType:s! 2:backend:IngressBackend",
    "IngressStatus": "1:loadBalancer:IngressLoadBalancerStatus",
    "IngressLoadBalancerStatus": "1:ingress:[]IngressLoadBalancerIngress",
    "IngressLoadBalancerIngress": "1:ip 2:hostname 4:ports:[]IngressPortStatus",
    "IngressPortStatus": "1:port:i32! 2:protocol:s! 3:error:s!",
    # ---------------------------------------------------------------- policy/v1
    "PodDisruptionBudget": f"{_OBJECT} 2:spec:PodDisruptionBudgetSpec 3:status:PodDisruptionBudgetStatus",
    "PodDisruptionBudgetSpec": """
        1:minAvailable:ios 2:selector:LabelSelector 3:maxUnavailable:ios 4:unhealthyPodEvictionPolicy:s!
    """,
    "PodDisruptionBudgetStatus": """
        1:observedGeneration:i64 2:disruptedPods:{}t 3:disruptionsAllowed:i32! 4:currentHealthy:i32!
        5:desiredHealthy:i32! 6:expectedPods:i32! 7:conditions:[]Condition
    """,
    "Eviction": f"{_OBJECT} 2:deleteOptions:DeleteOptions",
    # ---------------------------------------------------------------- scheduling.k8s.io/v1
    "PriorityClass": f"{_OBJECT} 2:value:i32! 3:globalDefault:b 4:description 5:preemptionPolicy:s!",
    # ---------------------------------------------------------------- authentication.k8s.io/v1
    "TokenRequest": f"{_OBJECT} 2:spec:TokenRequestSpec 3:status:TokenRequestStatus",
    "TokenRequestSpec": "1:audiences:[]s 4:expirationSeconds:i64! 3:boundObjectRef:BoundObjectReference",
    "BoundObjectReference": "1:kind 2:apiVersion 3:name 4:uid",
    "TokenRequestStatus": "1:token:s! 2:expirationTimestamp:t",
    "SelfSubjectReview": f"{_OBJECT} 2:status:SelfSubjectReviewStatus",
    "SelfSubjectReviewStatus": "1:userInfo:UserInfo",
    "UserInfo": "1:username 2:uid 3:groups:[]s 4:extra:{}xs",
    # ---------------------------------------------------------------- authorization.k8s.io/v1
    "SubjectAccessReview": f"{_OBJECT} 2:spec:SubjectAccessReviewSpec 3:status:SubjectAccessReviewStatus",
    "SelfSubjectAccessReview": f"{_OBJECT} 2:spec:SelfSubjectAccessReviewSpec 3:status:SubjectAccessReviewStatus",
    "SelfSubjectRulesReview": f"{_OBJECT} 2:spec:SelfSubjectRulesReviewSpec 3:status:SubjectRulesReviewStatus",
    "SubjectAccessReviewSpec": """
        1:resourceAttributes:ResourceAttributes 2:nonResourceAttributes:NonResourceAttributes 3:user
        4:groups:[]s 5:extra:{}xs 6:uid
    """,
    "SelfSubjectAccessReviewSpec": """
        1:resourceAttributes:ResourceAttributes 2:nonResourceAttributes:NonResourceAttributes
    """,
    "SelfSubjectRulesReviewSpec": "1:namespace",
    "ResourceAttributes": """
        1:namespace 2:verb 3:group 4:version 5:resource 6:subresource 7:name
        8:fieldSelector:FieldSelectorAttributes 9:labelSelector:LabelSelectorAttributes
    """,
    "FieldSelectorAttributes": "1:rawSelector 2:requirements:[]FieldSelectorRequirement",
    "LabelSelectorAttributes": "1:rawSelector 2:requirements:[]LabelSelectorRequirement",
    "NonResourceAttributes": "1:path 2:verb",
    "SubjectAccessReviewStatus": "1:allowed:b! 4:denied:b 2:reason 3:evaluationError",
    "SubjectRulesReviewStatus": """
        1:resourceRules:[]ResourceRule 2:nonResourceRules:[]NonResourceRule 3:incomplete:b! 4:evaluationError
    """,
    "ResourceRule": "1:verbs:[]s 2:apiGroups:[]s 3:resources:[]s 4:resourceNames:[]s",
    "NonResourceRule": "1:verbs:[]s 2:nonResourceURLs:[]s",
}

MESSAGES: dict[str, str] = {**CORE_MESSAGES, **META_MESSAGES, **GROUP_MESSAGES}
"""Every message table by name (names are unique across the groups covered here)."""

_GROUP_KINDS: dict[str, tuple[str, ...]] = {
    "apps/v1": ("Deployment", "ReplicaSet"),
    "batch/v1": ("Job", "CronJob"),
    "rbac.authorization.k8s.io/v1": ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"),
    "networking.k8s.io/v1": ("Ingress",),
    "policy/v1": ("PodDisruptionBudget", "Eviction"),
    "scheduling.k8s.io/v1": ("PriorityClass",),
    "authentication.k8s.io/v1": ("TokenRequest", "SelfSubjectReview"),
    "authorization.k8s.io/v1": ("SubjectAccessReview", "SelfSubjectAccessReview", "LocalSubjectAccessReview",
                                "SelfSubjectRulesReview"),
}

KINDS: dict[tuple[str, str], str] = {
    **{("v1", kind): msg for kind, msg in CORE_KINDS.items()},
    **{(gv, kind): kind for gv, kinds in _GROUP_KINDS.items() for kind in kinds},
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): "SubjectAccessReview",
}
"""(apiVersion, kind) of each top-level object the decoder accepts -> its message table."""
